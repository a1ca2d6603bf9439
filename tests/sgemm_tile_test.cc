// The AVX-512 float kernels (tiled GEMM, implicit convolution, depthwise) against their scalar reference twins on random shapes, including
// sizes that are not multiples of the 8x32 tile, and against a double-precision sum.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "lib/exec/depthwise.h"
#include "lib/exec/sgemm_tile.h"

namespace dyad {
namespace {

std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Float sums of k terms of magnitude <= 1 differ by order summation at most ~k * 2^-24 * k.
double tolerance(int64_t k) { return 4e-6 * static_cast<double>(k); }

TEST(SgemmTile, Avx512MatchesReferenceOnRandomShapes) {
  if (!sgemm_tile_avx512_available()) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  const int64_t sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100};
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t m = sizes[rng() % 13], n = sizes[rng() % 13] + static_cast<int64_t>(rng() % 3), k = sizes[rng() % 13];
    const int64_t ldb = n + static_cast<int64_t>(rng() % 5);  // B may be a window of a wider matrix
    const auto a = random_floats(static_cast<size_t>(m * k), rng), b = random_floats(static_cast<size_t>(k * ldb), rng),
               bias = random_floats(static_cast<size_t>(m), rng);
    const auto packed = sgemm_pack_a(a.data(), m, k, k);
    const int64_t n_begin = static_cast<int64_t>(rng() % static_cast<uint32_t>(n)), n_end = n;
    const float sentinel = 12345.0f;
    std::vector<float> ref(static_cast<size_t>(m * n), sentinel), fast(static_cast<size_t>(m * n), sentinel);
    const bool with_bias = trial % 2;
    sgemm_tile_ref(packed.data(), m, k, b.data(), ldb, n_begin, n_end, ref.data(), n, with_bias ? bias.data() : nullptr);
    sgemm_tile_avx512(packed.data(), m, k, b.data(), ldb, n_begin, n_end, fast.data(), n, with_bias ? bias.data() : nullptr);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const size_t at = static_cast<size_t>(i * n + j);
        if (j < n_begin) {  // outside the requested columns nothing is written
          ASSERT_EQ(fast[at], sentinel);
          continue;
        }
        double exact = with_bias ? bias[static_cast<size_t>(i)] : 0.0;
        for (int64_t kk = 0; kk < k; ++kk) exact += static_cast<double>(a[static_cast<size_t>(i * k + kk)]) * b[static_cast<size_t>(kk * ldb + j)];
        ASSERT_NEAR(fast[at], exact, tolerance(k)) << "m=" << m << " n=" << n << " k=" << k << " at " << i << "," << j;
        ASSERT_NEAR(ref[at], exact, tolerance(k));
      }
  }
}

TEST(ImplicitConv, Avx512MatchesReferenceOnRandomTapTables) {
  if (!sgemm_tile_avx512_available()) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()) + 1);
  for (int trial = 0; trial < 60; ++trial) {
    // A stack of `planes` planes per channel, each height x width; random taps into them.
    ImplicitConvShape s{};
    s.channels = 1 + rng() % 5;
    s.height = 1 + rng() % 12;
    s.width = 1 + rng() % 40;
    const int64_t planes = 1 + rng() % 4, plane = s.height * s.width;
    s.channel_stride = planes * plane;
    const int64_t taps = 1 + rng() % 9;
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t dy = static_cast<int64_t>(rng() % 5) - 2, dx = static_cast<int64_t>(rng() % 5) - 2;
      s.taps.push_back({static_cast<int64_t>(rng() % planes) * plane + dy * s.width + dx, dy, dx});
    }
    const int64_t m = 1 + rng() % 20, k = s.channels * taps;
    const auto a = random_floats(static_cast<size_t>(m * k), rng), bias = random_floats(static_cast<size_t>(m), rng);
    const auto src = random_floats(static_cast<size_t>(s.channels * s.channel_stride), rng);
    const auto packed = sgemm_pack_a(a.data(), m, k, k);
    const int64_t p_begin = static_cast<int64_t>(rng() % static_cast<uint32_t>(plane));
    std::vector<float> ref(static_cast<size_t>(m * plane), 5.0f), fast(ref.size(), 5.0f);
    implicit_conv_ref(packed.data(), m, s, src.data(), p_begin, plane, ref.data(), bias.data());
    implicit_conv_avx512(packed.data(), m, s, src.data(), p_begin, plane, fast.data(), bias.data());
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(fast[i], ref[i], tolerance(k)) << "trial " << trial << " at " << i;
  }
}

TEST(Depthwise, Avx512MatchesReferenceOnRandomShapes) {
  if (!sgemm_tile_avx512_available()) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()) + 2);
  for (int trial = 0; trial < 60; ++trial) {
    DepthwiseShape s{};
    s.height = 1 + rng() % 10;
    s.width = 1 + rng() % 45;
    s.kernel_h = 1 + rng() % 5;
    s.kernel_w = 1 + rng() % 5;
    s.dilation_h = 1 + rng() % 2;
    s.dilation_w = 1 + rng() % 2;
    s.stride_h = 1 + rng() % 2;
    s.stride_w = 1;
    s.pad_h = rng() % 3;
    s.pad_w = rng() % 3;
    const int64_t span_h = (s.kernel_h - 1) * s.dilation_h + 1, span_w = (s.kernel_w - 1) * s.dilation_w + 1;
    if (s.height + 2 * s.pad_h < span_h || s.width + 2 * s.pad_w < span_w) continue;
    s.out_height = (s.height + 2 * s.pad_h - span_h) / s.stride_h + 1;
    s.out_width = s.width + 2 * s.pad_w - span_w + 1;
    const auto x = random_floats(static_cast<size_t>(s.height * s.width), rng);
    const auto w = random_floats(static_cast<size_t>(s.kernel_h * s.kernel_w), rng);
    const float bias = 0.25f * static_cast<float>(trial % 5);
    std::vector<float> ref(static_cast<size_t>(s.out_height * s.out_width)), fast(ref.size(), 777.0f);
    depthwise2d_ref(s, x.data(), w.data(), bias, ref.data());
    depthwise2d_avx512(s, x.data(), w.data(), bias, fast.data());
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_NEAR(fast[i], ref[i], tolerance(s.kernel_h * s.kernel_w)) << "trial " << trial << " at " << i;
  }
}

}  // namespace
}  // namespace dyad
