// The residual add: every variant against the formula evaluated here in 128-bit arithmetic, on
// random parameters (multipliers across int32, shifts 0-40, narrowed clamps) and lengths around
// the 16-element step, with sentinels proving nothing past the end is written; parameters
// outside the AVX-512 variant's range go to the reference; and proof that each variant ran.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "integer_kernels/forced_isa.h"
#include "integer_kernels/qadd.h"

namespace dyad {
namespace {

uint8_t exact(const QAddParams& p, uint8_t a, uint8_t b) {
  const __int128 sum = static_cast<__int128>(a - p.za) * p.ma + static_cast<__int128>(b - p.zb) * p.mb + p.h;
  __int128 r = (sum >> p.shift) + p.zp;  // arithmetic: floor division by 2^shift
  r = r < p.qmin ? p.qmin : r > p.qmax ? p.qmax : r;
  return static_cast<uint8_t>(r);
}

QAddParams random_params(std::mt19937_64& rng) {
  QAddParams p{};
  p.shift = static_cast<int>(rng() % 41);
  // Multipliers near 2^shift (scales of the same order), either sign, clipped to int32.
  auto multiplier = [&] {
    const double scale = std::exp2(p.shift + std::uniform_real_distribution<double>(-3.0, 1.0)(rng));
    const double v = std::min(scale, 2147483647.0) * (rng() % 4 == 0 ? -1.0 : 1.0);
    return static_cast<int64_t>(v);
  };
  p.za = static_cast<int64_t>(rng() % 256);
  p.zb = static_cast<int64_t>(rng() % 256);
  p.ma = multiplier();
  p.mb = multiplier();
  p.h = p.shift > 0 ? (int64_t{1} << (p.shift - 1)) : 0;  // round half up, as the emitter writes it
  if (rng() % 3 == 0) p.h += static_cast<int64_t>(rng() % 100000) - 50000;
  p.zp = static_cast<int64_t>(rng() % 256);
  p.qmin = rng() % 4 == 0 ? static_cast<int64_t>(rng() % 100) : 0;
  p.qmax = rng() % 4 == 0 ? 150 + static_cast<int64_t>(rng() % 106) : 255;
  return p;
}

TEST(DyadicAdd, EveryVariantEqualsTheExactFormula) {
  std::mt19937_64 rng(static_cast<uint64_t>(::testing::UnitTest::GetInstance()->random_seed()));
  for (int isa_index = 0; isa_index < 2; ++isa_index) {
    const AddIsa isa = static_cast<AddIsa>(isa_index);
    if (!add_isa_supported(isa)) continue;
    for (int trial = 0; trial < 200; ++trial) {
      const QAddParams p = random_params(rng);
      const int64_t n = trial < 40 ? trial : static_cast<int64_t>(rng() % 300);
      std::vector<uint8_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {  // the extremes first, then random
        a[static_cast<size_t>(i)] = i < 4 ? static_cast<uint8_t>((i & 1) * 255) : static_cast<uint8_t>(rng());
        b[static_cast<size_t>(i)] = i < 4 ? static_cast<uint8_t>((i >> 1) * 255) : static_cast<uint8_t>(rng());
      }
      std::vector<uint8_t> y(static_cast<size_t>(n) + 16, 0xA5);
      const int64_t before = u8_dyadic_add_calls(isa);
      u8_dyadic_add(isa, p, a.data(), b.data(), n, y.data());
      EXPECT_EQ(u8_dyadic_add_calls(isa), before + 1) << "the in-range parameters did not run on this variant";
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(y[static_cast<size_t>(i)], exact(p, a[static_cast<size_t>(i)], b[static_cast<size_t>(i)]))
            << "isa " << isa_index << " n " << n << " i " << i << " ma " << p.ma << " mb " << p.mb << " shift " << p.shift;
      for (size_t i = static_cast<size_t>(n); i < y.size(); ++i) ASSERT_EQ(y[i], 0xA5) << "written past the end, n=" << n;
    }
  }
}

TEST(DyadicAdd, ParametersThatCouldWrapRunOnTheReference) {
  // A multiplier beyond int32: the int64 products may wrap, which only the reference models.
  QAddParams p{10, int64_t{1} << 40, 20, 3, 0, 4, 7, 0, 255};
  std::vector<uint8_t> a{0, 255, 17}, b{255, 0, 99}, y(3);
  const int64_t before = u8_dyadic_add_calls(AddIsa::Reference);
  u8_dyadic_add(add_isa_best(), p, a.data(), b.data(), 3, y.data());
  EXPECT_EQ(u8_dyadic_add_calls(AddIsa::Reference), before + 1);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(y[i], exact(p, a[i], b[i]));
}

TEST(DyadicAdd, BestVariantHonoursForcing) {
  if (reference_isa_forced()) EXPECT_EQ(add_isa_best(), AddIsa::Reference);
  else EXPECT_EQ(add_isa_best(), add_isa_supported(AddIsa::Avx512) ? AddIsa::Avx512 : AddIsa::Reference);
}

}  // namespace
}  // namespace dyad
