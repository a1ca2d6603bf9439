// Dyadic requantization against exact 128-bit arithmetic written differently (division with an
// explicit floor instead of a shift), on gemmlowp-style edge values, constructed ties and random
// values, plus hand-derived cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "lib/quant/dyadic.h"

namespace dyad {
namespace {

// floor((acc * m + 2^(s-1)) / 2^s) with __int128 and a truncating division corrected to floor.
int64_t reference_rescale(int32_t acc, int64_t m, int s) {
  const __int128 num = static_cast<__int128>(acc) * m + (s > 0 ? (static_cast<__int128>(1) << (s - 1)) : 0);
  const __int128 den = static_cast<__int128>(1) << s;
  __int128 q = num / den;
  if (num % den != 0 && num < 0) q -= 1;
  return static_cast<int64_t>(q);
}

std::vector<int32_t> edge_accumulators() {
  std::vector<int32_t> v{0, 1, -1, 2, -2, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()};
  for (int i = 1; i < 31; ++i)
    for (int d = -2; d <= 2; ++d) {
      v.push_back(static_cast<int32_t>((int64_t{1} << i) + d));
      v.push_back(static_cast<int32_t>(-(int64_t{1} << i) + d));
    }
  return v;
}

TEST(Dyadic, HandDerivedCases) {
  const DyadicMultiplier half{1 << 30, 31};  // exactly 0.5
  EXPECT_EQ(dyadic_rescale(3, half), 2);     // 1.5 rounds half up to 2
  EXPECT_EQ(dyadic_rescale(-3, half), -1);   // -1.5 rounds half up to -1
  EXPECT_EQ(dyadic_rescale(5, half), 3);     // 2.5 -> 3 (half up, not to even)
  EXPECT_EQ(dyadic_rescale(-4, half), -2);
  EXPECT_EQ(dyadic_requantize(1000, half, 10, 0, 255), 255);  // 500 + 10 saturates
  EXPECT_EQ(dyadic_requantize(-1000, half, 10, -128, 127), -128);
  EXPECT_EQ(dyadic_requantize(7, DyadicMultiplier{1 << 30, 0}, 0, -128, 127), 127);  // s = 0: no rounding term
}

TEST(Dyadic, MatchesExactArithmeticOnEdgesAndTies) {
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  const auto accs = edge_accumulators();
  const int32_t ms[] = {1 << 30, (1 << 30) + 1, std::numeric_limits<int32_t>::max(), 1518500250};
  int64_t checked = 0;
  for (int s = 0; s <= 62; ++s) {
    for (int32_t m : ms)
      for (int32_t acc : accs) {
        ASSERT_EQ(dyadic_rescale(acc, {m, s}), reference_rescale(acc, m, s)) << acc << " * " << m << " >> " << s;
        ++checked;
      }
    // Constructed ties: acc * m = (2j + 1) * 2^(s-1) exactly, with m = 2^30 and acc = (2j+1) * 2^(s-31).
    if (s >= 31)
      for (int j = -50; j <= 50; ++j) {
        const int64_t acc = (2 * j + 1) * (int64_t{1} << (s - 31));
        if (acc < std::numeric_limits<int32_t>::min() || acc > std::numeric_limits<int32_t>::max()) continue;
        const int64_t got = dyadic_rescale(static_cast<int32_t>(acc), {1 << 30, s});
        ASSERT_EQ(got, j + 1) << "tie " << (2 * j + 1) << "/2 must round up";
        ++checked;
      }
    for (int i = 0; i < 2000; ++i) {
      const int32_t acc = static_cast<int32_t>(rng());
      const int32_t m = static_cast<int32_t>((1u << 30) + (rng() & ((1u << 30) - 1)));
      ASSERT_EQ(dyadic_rescale(acc, {m, s}), reference_rescale(acc, m, s));
      ++checked;
    }
  }
  EXPECT_GT(checked, 150000);
}

TEST(Dyadic, FromRealIsTheNearestRepresentation) {
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()) + 1);
  std::uniform_real_distribution<double> log2_dist(-31.0, 30.9);
  for (int i = 0; i < 100000; ++i) {
    const double real = std::exp2(log2_dist(rng));
    const DyadicMultiplier d = dyadic_from_real(real);
    ASSERT_GE(d.m, 1 << 30) << real;
    ASSERT_GE(d.s, 0);
    ASSERT_LE(d.s, 62);
    // m is the integer nearest to real * 2^s (within half a unit), so |m/2^s - real| <= 2^-(s+1).
    ASSERT_LE(std::fabs(static_cast<double>(d.m) - std::ldexp(real, d.s)), 0.5 + 1e-6) << real;
  }
  // Exact powers of two and values just below 1.
  EXPECT_EQ(dyadic_from_real(0.5).m, 1 << 30);
  EXPECT_EQ(dyadic_from_real(0.5).s, 31);
  EXPECT_EQ(dyadic_from_real(1.0).s, 30);
  const DyadicMultiplier almost_one = dyadic_from_real(std::nextafter(1.0, 0.0));  // rounds up to 2^31 -> renormalised
  EXPECT_EQ(almost_one.m, 1 << 30);
  EXPECT_EQ(almost_one.s, 30);
  // Tiny multipliers keep s at 62 and lose precision; below ~2^-32 the layer outputs zero.
  const DyadicMultiplier tiny = dyadic_from_real(std::ldexp(1.0, -40));
  EXPECT_EQ(tiny.s, 62);
  EXPECT_EQ(tiny.m, 1 << 22);
  EXPECT_EQ(dyadic_from_real(std::ldexp(1.0, -64)).m, 0);
  EXPECT_EQ(dyadic_from_real(0.0).m, 0);
  EXPECT_FALSE(dyadic_multiplier_valid(std::ldexp(1.0, 31)));
  EXPECT_FALSE(dyadic_multiplier_valid(std::nan("")));
}

TEST(Dyadic, RescaleApproximatesTheRealProductWithinHalfAUnit) {
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()) + 2);
  std::uniform_real_distribution<double> log2_dist(-20.0, 4.0);
  for (int i = 0; i < 100000; ++i) {
    const double real = std::exp2(log2_dist(rng));
    const int32_t acc = static_cast<int32_t>(rng() % 2000001) - 1000000;
    const DyadicMultiplier d = dyadic_from_real(real);
    const double represented = std::ldexp(static_cast<double>(d.m), -d.s);
    const double exact = static_cast<double>(acc) * real;
    const double bound = 0.5 + std::fabs(static_cast<double>(acc)) * std::fabs(represented - real) + 1e-9;
    ASSERT_LE(std::fabs(static_cast<double>(dyadic_rescale(acc, d)) - exact), bound) << acc << " * " << real;
  }
}

}  // namespace
}  // namespace dyad
