// Integer GEMM variants against the scalar reference, bit for bit, on random problems over the
// tile's edge sizes, MLAS's zero-point sweep and extreme values; the reference against an
// independent int64 sum; and proof that every compiled variant this CPU supports actually ran.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <utility>

#include "integer_kernels/qgemm.h"
#include "integer_kernels/qgemm_internal.h"
#include "lib/ir/error.h"

namespace dyad {
namespace {

struct Problem {
  int64_t m, k, n;
  std::vector<int8_t> w;
  std::vector<uint8_t> x;
  std::vector<int32_t> bias;
  std::vector<DyadicMultiplier> mult;
  int32_t x_zp;
};

Problem random_problem(std::mt19937& rng, int64_t m, int64_t k, int64_t n, int32_t x_zp, bool extreme) {
  Problem p{m, k, n, {}, {}, {}, {}, x_zp};
  p.w.resize(static_cast<size_t>(m * k));
  p.x.resize(static_cast<size_t>(k * n));
  for (auto& v : p.w) v = extreme ? (rng() % 2 ? int8_t{-128} : int8_t{127}) : static_cast<int8_t>(rng());
  for (auto& v : p.x) v = extreme ? (rng() % 2 ? uint8_t{0} : uint8_t{255}) : static_cast<uint8_t>(rng());
  // Multipliers from 2^-24 to 8: those of 1 and more take the requantization's general path
  // (shift below 31), the rest its 32-bit one.
  std::uniform_real_distribution<double> log2_scale(-24.0, 3.0);
  for (int64_t i = 0; i < m; ++i) {
    p.bias.push_back(static_cast<int32_t>(rng() % (1u << 21)) - (1 << 20));
    p.mult.push_back(dyadic_from_real(std::exp2(log2_scale(rng))));
  }
  return p;
}

// Columns [n_begin, n_end) of the product (n_end < 0: to the last column).
std::vector<uint8_t> run(QIsa isa, const Problem& p, QOutput out, const QOutputStage& stage, int64_t n_begin, int64_t n_end = -1) {
  const size_t elem = out == QOutput::Int32 ? 4 : 1;
  std::vector<uint8_t> y(static_cast<size_t>(p.m * p.n) * elem, 0xA5);  // sentinel outside [n_begin, n_end)
  const QPackedWeights w = qgemm_pack_weights(isa, p.w.data(), p.m, p.k, p.k);
  const QPackedActivations x = qgemm_pack_activations(isa, p.x.data(), p.k, p.n, p.n);
  qgemm(w, x, p.x_zp, p.bias.data(), n_begin, n_end < 0 ? p.n : n_end, out, stage, y.data(), p.n);
  return y;
}

std::vector<QIsa> optimised_variants() {
  std::vector<QIsa> v;
  for (int i = 1; i < kQIsaCount; ++i)
    if (qisa_supported(static_cast<QIsa>(i))) v.push_back(static_cast<QIsa>(i));
  return v;
}

// X transposed ([N][K], a MatMul's A), in a buffer of exactly its size: read in place
// (QActivationLayout::Rows), a read past the last row is an ASan error.
std::vector<uint8_t> exact_transpose(const Problem& p) {
  std::vector<uint8_t> xt(static_cast<size_t>(p.n * p.k));
  for (int64_t r = 0; r < p.k; ++r)
    for (int64_t c = 0; c < p.n; ++c) xt[static_cast<size_t>(c * p.k + r)] = p.x[static_cast<size_t>(r * p.n + c)];
  return xt;
}

// A variant's tile_columns meaning "A's rows read in place" (qgemm_activations_rows).
constexpr int64_t kRowsInPlace = -1;

TEST(Qgemm, ReferenceEqualsAnIndependentSum) {
  std::mt19937 rng(7);
  const Problem p = random_problem(rng, 5, 37, 9, 131, false);
  std::vector<uint8_t> y = run(QIsa::Reference, p, QOutput::Int32, {}, 0);
  for (int64_t r = 0; r < p.m; ++r)
    for (int64_t c = 0; c < p.n; ++c) {
      int64_t exact = p.bias[static_cast<size_t>(r)];
      for (int64_t kk = 0; kk < p.k; ++kk)
        exact += int64_t{p.w[static_cast<size_t>(r * p.k + kk)]} * (int64_t{p.x[static_cast<size_t>(kk * p.n + c)]} - p.x_zp);
      int32_t got;
      std::memcpy(&got, y.data() + (r * p.n + c) * 4, 4);
      ASSERT_EQ(got, exact);  // small enough not to wrap
    }
}

TEST(Qgemm, ReferenceRequantizesEachRowWithItsZeroPoint) {
  std::mt19937 rng(8);
  const Problem p = random_problem(rng, 6, 21, 11, 90, false);
  const std::vector<uint8_t> acc = run(QIsa::Reference, p, QOutput::Int32, {}, 0);
  const std::vector<int32_t> zero_points{0, 17, 128, 200, 255, 3};
  const QOutputStage stage{p.mult.data(), 99, 0, 255, zero_points.data()};  // 99 must be ignored
  const std::vector<uint8_t> y = run(QIsa::Reference, p, QOutput::UInt8, stage, 0);
  for (int64_t r = 0; r < p.m; ++r)
    for (int64_t c = 0; c < p.n; ++c) {
      int32_t a;
      std::memcpy(&a, acc.data() + (r * p.n + c) * 4, 4);
      EXPECT_EQ(y[static_cast<size_t>(r * p.n + c)], dyadic_requantize(a, p.mult[static_cast<size_t>(r)], zero_points[static_cast<size_t>(r)], 0, 255));
    }
}

TEST(Qgemm, OptimisedVariantsMatchTheReferenceBitForBit) {
  const auto variants = optimised_variants();
  if (variants.empty()) GTEST_SKIP() << "no optimised variant runs on this CPU";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  const int64_t sizes[] = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100};
  const int32_t zero_points[] = {0, 18, 75, 128, 157, 231, 255};
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t m = sizes[rng() % 15], k = sizes[rng() % 15] + (trial % 3), n = sizes[rng() % 15];
    const bool extreme = trial % 7 == 0;
    const Problem p = random_problem(rng, m, k, n, zero_points[rng() % 7], extreme);
    const QOutput out = static_cast<QOutput>(trial % 3);
    QOutputStage stage{p.mult.data(), out == QOutput::Int8 ? -3 : 17, out == QOutput::Int8 ? -128 : 0,
                       out == QOutput::Int8 ? 127 : 255};
    if (trial % 5 == 0) stage.qmin = out == QOutput::Int8 ? -100 : 10;  // a narrowed range (fused ReLU6-style)
    std::vector<int32_t> row_zero_points;
    if (trial % 4 == 1) {  // per-row zero points (per-channel outputs)
      for (int64_t r = 0; r < m; ++r) row_zero_points.push_back(out == QOutput::Int8 ? static_cast<int32_t>(rng() % 256) - 128 : static_cast<int32_t>(rng() % 256));
      stage.zero_points = row_zero_points.data();
    }
    const int64_t n_begin = static_cast<int64_t>(rng() % static_cast<uint32_t>(n));
    const auto expected = run(QIsa::Reference, p, out, stage, n_begin);
    for (QIsa isa : variants)
      ASSERT_EQ(run(isa, p, out, stage, n_begin), expected)
          << qisa_name(isa) << " m=" << m << " k=" << k << " n=" << n << " zp=" << p.x_zp << " output="
          << static_cast<int>(out) << " n_begin=" << n_begin << " (replay with --gtest_random_seed)";
  }
}

TEST(Qgemm, ColumnBlocksWithAndWithoutPackingMatchTheReference) {
  // k = 8200 makes the VNNI variant's L2 column blocks 32 wide, so 145 columns (from 5) span five
  // blocks, the last partial; 16 rows read the activations in place, 40 rows copy each block.
  const auto variants = optimised_variants();
  if (variants.empty()) GTEST_SKIP() << "no optimised variant runs on this CPU";
  std::mt19937 rng(33);
  for (int64_t m : {16, 40}) {
    const Problem p = random_problem(rng, m, 8200, 150, 77, false);
    const QOutputStage stage{p.mult.data(), 9, 0, 255};
    for (QOutput out : {QOutput::Int32, QOutput::UInt8}) {
      const auto expected = run(QIsa::Reference, p, out, stage, 5);
      for (QIsa isa : variants) EXPECT_EQ(run(isa, p, out, stage, 5), expected) << qisa_name(isa) << " m=" << m;
    }
  }
}

TEST(Qgemm, TilesOfBytesFinishedLateMatchTheReference) {
  // Tiled products of bytes finish each tile during the next tile's k loop (the VNNI variant's
  // TilePipeline): k below one group of eight steps (every pending row finished after the loop),
  // whole groups, a remainder, and k = 8200 (column blocks of 32, so the pending tile crosses
  // blocks); multipliers all below 1/2 (the folded form it takes) or, every third problem, some
  // rows of 1/2 and more, so panels it does not take interrupt it. Calls cover whole rows or,
  // as a thread's share of a product split by columns, a range of them starting and ending on
  // or inside a tile; the columns outside the range keep their sentinel.
  const auto variants = optimised_variants();
  if (variants.empty()) GTEST_SKIP() << "no optimised variant runs on this CPU";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  const int64_t ks[] = {3, 29, 32, 61, 256, 291, 8200};
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t m = 8 * (1 + static_cast<int64_t>(rng() % 12)) + (trial % 4 == 3 ? 3 : 0);
    const int64_t n = 32 * (1 + static_cast<int64_t>(rng() % 6)) + (trial % 5 == 4 ? 7 : 0);
    const int64_t k = ks[trial % 7];
    Problem p = random_problem(rng, m, k, n, static_cast<int32_t>(rng() % 256), trial % 11 == 0);
    std::uniform_real_distribution<double> folded(-20.0, -1.5), wide(-1.0, 2.0);
    for (auto& d : p.mult) d = dyadic_from_real(std::exp2(trial % 3 == 2 && rng() % 16 == 0 ? wide(rng) : folded(rng)));
    const QOutput out = trial % 2 ? QOutput::Int8 : QOutput::UInt8;
    QOutputStage stage{p.mult.data(), out == QOutput::Int8 ? 5 : 120, out == QOutput::Int8 ? -128 : 0, out == QOutput::Int8 ? 127 : 255};
    std::vector<int32_t> row_zero_points;
    if (trial % 4 == 1) {
      for (int64_t r = 0; r < m; ++r) row_zero_points.push_back(static_cast<int32_t>(rng() % 200) - (out == QOutput::Int8 ? 100 : 0));
      stage.zero_points = row_zero_points.data();
    }
    const int64_t tiles = (n + 31) / 32;
    int64_t n_begin = 0, n_end = n;
    if (trial % 3 == 1) {  // a range of whole tiles, as two threads split one
      n_begin = 32 * static_cast<int64_t>(rng() % static_cast<uint64_t>(tiles));
      n_end = std::min(n, n_begin + 32 * (1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(tiles))));
    } else if (trial % 3 == 2) {  // any range
      n_begin = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
      n_end = n_begin + 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - n_begin));
    }
    const auto expected = run(QIsa::Reference, p, out, stage, n_begin, n_end);
    for (QIsa isa : variants)
      ASSERT_EQ(run(isa, p, out, stage, n_begin, n_end), expected)
          << qisa_name(isa) << " m=" << m << " k=" << k << " n=" << n << " columns " << n_begin << "-" << n_end << " trial " << trial;
  }
}

TEST(Qgemm, RowRangesComputeTheirRowsOnly) {
  // Rows split at panel boundaries, as threads split a layer with few columns: each range writes
  // its rows (equal to the reference's whole product) and leaves every other row's sentinel alone.
  std::mt19937 rng(21);
  for (QIsa isa : {QIsa::Reference, QIsa::Avx512Vnni, QIsa::Avx2}) {
    if (!qisa_supported(isa)) continue;
    for (int trial = 0; trial < 12; ++trial) {
      const int64_t m = 1 + static_cast<int64_t>(rng() % 40), k = 1 + static_cast<int64_t>(rng() % 300), n = 1 + static_cast<int64_t>(rng() % 70);
      const Problem p = random_problem(rng, m, k, n, static_cast<int32_t>(rng() % 256), trial % 5 == 0);
      const QOutputStage stage{p.mult.data(), 3, 0, 255};
      const std::vector<uint8_t> whole = run(QIsa::Reference, p, QOutput::UInt8, stage, 0);
      const QPackedWeights w = qgemm_pack_weights(isa, p.w.data(), p.m, p.k, p.k);
      const QPackedActivations x = qgemm_pack_activations(isa, p.x.data(), p.k, p.n, p.n);
      const int64_t panels = (m + kQgemmRowAlign - 1) / kQgemmRowAlign;
      const int64_t first = static_cast<int64_t>(rng() % static_cast<uint64_t>(panels)) * kQgemmRowAlign;
      const int64_t last = std::min(m, first + kQgemmRowAlign * (1 + static_cast<int64_t>(rng() % 3)));
      std::vector<uint8_t> y(static_cast<size_t>(m * n), 0xA5);
      qgemm_rows(w, x, p.x_zp, p.bias.data(), first, last, 0, n, QOutput::UInt8, stage, y.data(), n);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < n; ++c) {
          const size_t i = static_cast<size_t>(r * n + c);
          ASSERT_EQ(y[i], r >= first && r < last ? whole[i] : uint8_t{0xA5})
              << qisa_name(isa) << " m " << m << " k " << k << " n " << n << " rows [" << first << ", " << last << ") at " << r << "," << c;
        }
    }
  }
}

TEST(Qgemm, WideColumnsKeepTheFirstColumnsOfEachOutputRow) {
  // column_pitch / kept_columns (an in-place convolution's junk columns dropped as the GEMM
  // writes): every variant writes exactly the reference's unmapped product with each output
  // row's last pitch - kept columns removed, and nothing past the kept outputs. Pitches 1-40
  // cover runs that cross zero, one and several output rows inside sixteen lanes.
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t pitch = 1 + static_cast<int64_t>(rng() % 40), kept = 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(pitch));
    const int64_t out_rows = 1 + static_cast<int64_t>(rng() % 6), n = pitch * out_rows, m = 1 + static_cast<int64_t>(rng() % 20);
    const Problem p = random_problem(rng, m, 1 + static_cast<int64_t>(rng() % 70), n, static_cast<int32_t>(rng() % 256), trial % 9 == 0);
    const QOutput out = trial % 2 ? QOutput::UInt8 : QOutput::Int32;
    const size_t elem = out == QOutput::Int32 ? 4 : 1;
    QOutputStage stage{p.mult.data(), 5, 0, 255};
    const std::vector<uint8_t> wide = run(QIsa::Reference, p, out, stage, 0);
    const int64_t ldy = kept * out_rows + 3;  // a gap after each row of y, which must stay untouched
    std::vector<uint8_t> expected(static_cast<size_t>(m * ldy) * elem, 0xA5);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j)
        if (j % pitch < kept)
          std::memcpy(expected.data() + (r * ldy + (j / pitch) * kept + j % pitch) * elem, wide.data() + (r * n + j) * elem, elem);
    stage.column_pitch = pitch;
    stage.kept_columns = kept;
    for (int i = 0; i < kQIsaCount; ++i) {
      const QIsa isa = static_cast<QIsa>(i);
      if (!qisa_supported(isa)) continue;
      const QPackedWeights w = qgemm_pack_weights(isa, p.w.data(), p.m, p.k, p.k);
      const QPackedActivations x = qgemm_pack_activations(isa, p.x.data(), p.k, p.n, p.n);
      std::vector<uint8_t> y(expected.size(), 0xA5);
      // Two column ranges, as threads split a product, meeting at a random column.
      const int64_t split = static_cast<int64_t>(rng() % static_cast<uint32_t>(n + 1));
      qgemm(w, x, p.x_zp, p.bias.data(), 0, split, out, stage, y.data(), ldy);
      qgemm(w, x, p.x_zp, p.bias.data(), split, n, out, stage, y.data(), ldy);
      ASSERT_EQ(y, expected) << qisa_name(isa) << " pitch " << pitch << " kept " << kept << " n " << n << " m " << m << " split " << split;
    }
  }
}

TEST(Qgemm, Avx512InterleaveEqualsTheScalarTwinAndStaysInBounds) {
  // Consecutive quads (chunk stride 128) and a Tiled layout's quad (32-column chunks 640 bytes
  // apart), and the same for 6-column chunks (stride 24, and 200); the reference against the
  // definition, the AVX-512 twin and the portable path against the reference, every byte between
  // chunks left alone.
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  const std::pair<int64_t, int64_t> strides_and_widths[] = {{128, 32}, {640, 32}, {24, 6}, {200, 6}};
  for (const auto& [stride, width] : strides_and_widths)
    for (int64_t n = 0; n <= 100; ++n) {
      std::vector<uint8_t> rows(static_cast<size_t>(4 * n + 1));
      for (auto& v : rows) v = static_cast<uint8_t>(rng());
      const uint8_t* r[4] = {rows.data(), rows.data() + n, rows.data() + 2 * n, rows.data() + 3 * n};
      const int64_t chunks = (n + width - 1) / width;
      const size_t bytes = static_cast<size_t>(chunks == 0 ? 1 : (chunks - 1) * stride + width * 4 + 1);
      std::vector<uint8_t> defined(bytes, 0x5A);
      for (int64_t c = 0; c < n; ++c)
        for (int j = 0; j < 4; ++j) defined[static_cast<size_t>((c / width) * stride + (c % width) * 4 + j)] = r[j][c];
      // Each output in its own exact-size heap block, so AddressSanitizer sees any overrun.
      auto reference = std::make_unique<uint8_t[]>(bytes), portable = std::make_unique<uint8_t[]>(bytes);
      std::fill(reference.get(), reference.get() + bytes, uint8_t{0x5A});
      std::fill(portable.get(), portable.get() + bytes, uint8_t{0x5A});
      qgemm_detail::interleave_quad__ref(r, n, reference.get(), stride, width);
      ASSERT_TRUE(std::equal(defined.begin(), defined.end(), reference.get())) << "reference, n=" << n << " stride " << stride << " width " << width;
      if (qgemm_isa_best() != QIsa::Avx512Vnni) {
        qgemm_interleave_quad(r, n, portable.get(), stride, width);
        ASSERT_TRUE(std::equal(defined.begin(), defined.end(), portable.get())) << "portable, n=" << n << " stride " << stride << " width " << width;
      }
      if (!qisa_supported(QIsa::Avx512Vnni)) continue;
      auto simd = std::make_unique<uint8_t[]>(bytes);
      std::fill(simd.get(), simd.get() + bytes, uint8_t{0x5A});
      qgemm_detail::interleave_quad__avx512(r, n, simd.get(), stride, width);
      ASSERT_TRUE(std::equal(defined.begin(), defined.end(), simd.get())) << "avx512, n=" << n << " stride " << stride << " width " << width;
    }
}

TEST(Qgemm, PhaseInterleaveEqualsTheScalarTwin) {
  // Whole stride phases of padded planes: rows above and below the input (padding rows), row
  // and column strides 1-3, widths and column counts around the sixteen-column step and past
  // the AVX-512 variant's longest row (which then takes the reference), and in every other
  // trial a null fourth plane (a channel past the last: all pad).
  if (!qisa_supported(QIsa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t height = 1 + static_cast<int64_t>(rng() % 12), width = 1 + static_cast<int64_t>(rng() % 70);
    const int64_t row_step = 1 + static_cast<int64_t>(rng() % 3), col_step = 1 + static_cast<int64_t>(rng() % 3);
    const int64_t first_row = static_cast<int64_t>(rng() % 5) - 2, first_col = static_cast<int64_t>(rng() % 7) - 3;
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 14);
    const int64_t cols = trial == 0 ? 1100 : 1 + static_cast<int64_t>(rng() % 50);
    const uint8_t pad = static_cast<uint8_t>(rng());
    std::vector<std::unique_ptr<uint8_t[]>> planes;
    const uint8_t* p[4];
    for (int j = 0; j < 4; ++j) {
      planes.push_back(std::make_unique<uint8_t[]>(static_cast<size_t>(height * width)));
      for (int64_t i = 0; i < height * width; ++i) planes.back()[static_cast<size_t>(i)] = static_cast<uint8_t>(rng());
      p[j] = planes.back().get();
    }
    if (trial % 2) p[3] = nullptr;
    std::vector<uint8_t> reference(static_cast<size_t>(4 * rows * cols + 8), 0x5A), simd(reference);
    qgemm_detail::interleave_phase__ref(p, height, width, first_row, row_step, rows, first_col, col_step, cols, pad, reference.data());
    qgemm_detail::interleave_phase__avx512(p, height, width, first_row, row_step, rows, first_col, col_step, cols, pad, simd.data());
    ASSERT_EQ(simd, reference) << "height " << height << " width " << width << " rows from " << first_row << " by " << row_step
                               << " cols from " << first_col << " by " << col_step << " x " << cols;
    for (int64_t r = 0; r < rows; ++r)  // the reference against the definition, channels 1 and 3
      for (int64_t t = 0; t < cols; ++t) {
        const int64_t ih = first_row + r * row_step, iw = first_col + t * col_step;
        const bool inside = ih >= 0 && ih < height && iw >= 0 && iw < width;
        ASSERT_EQ(reference[static_cast<size_t>(4 * (r * cols + t) + 1)], inside ? p[1][ih * width + iw] : pad);
        ASSERT_EQ(reference[static_cast<size_t>(4 * (r * cols + t) + 3)], inside && p[3] ? p[3][ih * width + iw] : pad);
      }
  }
}

TEST(Qgemm, TransposedPackingEqualsPackingTheTranspose) {
  std::mt19937 rng(5);
  for (int i = 0; i < kQIsaCount; ++i) {
    const QIsa isa = static_cast<QIsa>(i);
    for (int64_t width : {QPackedActivations::kTileColumns, QPackedActivations::kNarrowTileColumns}) {
      if (width != QPackedActivations::kTileColumns && isa != QIsa::Avx512Vnni) continue;  // RowsInLanes's width
      for (int64_t k : {1, 3, 4, 7, 13}) {
        const int64_t n = 11, ldx = k + 2;  // rows of xt with a gap after each
        std::vector<uint8_t> xt(static_cast<size_t>(n * ldx)), x(static_cast<size_t>(k * n));
        for (auto& v : xt) v = static_cast<uint8_t>(rng());
        for (int64_t r = 0; r < k; ++r)
          for (int64_t c = 0; c < n; ++c) x[static_cast<size_t>(r * n + c)] = xt[static_cast<size_t>(c * ldx + r)];
        const QPackedActivations packed = qgemm_pack_activations(isa, x.data(), k, n, n, width);
        EXPECT_EQ(qgemm_pack_activations_transposed(isa, xt.data(), k, n, ldx, width).data, packed.data)
            << qisa_name(isa) << " k=" << k << " width " << width;
        if (isa == QIsa::Reference) continue;
        for (int64_t q = 0; q < (k + 3) / 4; ++q)  // at() finds every byte where the definition puts it
          for (int64_t c = 0; c < n; ++c)
            for (int64_t j = 0; j < 4; ++j)
              ASSERT_EQ(packed.at(q, c)[j], 4 * q + j < k ? x[static_cast<size_t>((4 * q + j) * n + c)] : 0) << "width " << width;
      }
    }
  }
}

TEST(Qgemm, NarrowTilesAreForRowsInLanesOnly) {
  // Activations Tiled six columns wide (the 64x6 kernel's) given to the 8x32 kernel: an error,
  // not a product read through the wrong addressing. And the width each kernel is packed for.
  if (!qisa_supported(QIsa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  std::mt19937 rng(6);
  const Problem p = random_problem(rng, 16, 40, 20, 3, false);
  const QPackedWeights w = qgemm_pack_weights(QIsa::Avx512Vnni, p.w.data(), p.m, p.k, p.k);
  const QPackedActivations x = qgemm_pack_activations(QIsa::Avx512Vnni, p.x.data(), p.k, p.n, p.n, QPackedActivations::kNarrowTileColumns);
  for (int64_t n : {1, 6, 48, 49, 196}) EXPECT_EQ(qgemm_tile_columns_for(w, n), QPackedActivations::kTileColumns) << n;
  std::vector<int32_t> y(static_cast<size_t>(p.m * p.n));
  EXPECT_THROW(qgemm(w, x, p.x_zp, p.bias.data(), 0, p.n, QOutput::Int32, {}, y.data(), p.n), Error);
  const QPackedWeights lanes = qgemm_pack_weights(QIsa::Avx512Vnni, p.w.data(), p.m, p.k, p.k, QWeightLayout::RowsInLanes);
  // Six wide unless the last chunk would hold one or two columns (ResNet's res5: 49 = 8 x 6 + 1).
  for (int64_t n : {3, 6, 48, 51, 196}) EXPECT_EQ(qgemm_tile_columns_for(lanes, n), QPackedActivations::kNarrowTileColumns) << n;
  for (int64_t n : {1, 2, 8, 49, 50}) EXPECT_EQ(qgemm_tile_columns_for(lanes, n), QPackedActivations::kTileColumns) << n;
}

TEST(Qgemm, RowsReadInPlaceAreForRowsInLanesOnly) {
  // A's rows read in place (QActivationLayout::Rows): only the 64x6 kernel reads them, and only
  // with k a multiple of 4 (a partial last group would read past the last row).
  if (!qisa_supported(QIsa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  std::mt19937 rng(9);
  const Problem p = random_problem(rng, 16, 40, 20, 3, false);
  const std::vector<uint8_t> xt = exact_transpose(p);
  const QPackedActivations rows = qgemm_activations_rows(QIsa::Avx512Vnni, xt.data(), p.k, p.n, p.k);
  std::vector<int32_t> y(static_cast<size_t>(p.m * p.n));
  const QPackedWeights w = qgemm_pack_weights(QIsa::Avx512Vnni, p.w.data(), p.m, p.k, p.k);
  EXPECT_THROW(qgemm(w, rows, p.x_zp, p.bias.data(), 0, p.n, QOutput::Int32, {}, y.data(), p.n), Error);
  EXPECT_THROW(qgemm_activations_rows(QIsa::Avx512Vnni, xt.data(), 38, p.n, 40), Error);
  EXPECT_THROW(qgemm_activations_rows(QIsa::Reference, xt.data(), p.k, p.n, p.k), Error);
}

TEST(Qgemm, IndirectActivationsEqualTheDensePacking) {
  // Quads of k read in place from a buffer at arbitrary offsets (as a stride-1 convolution
  // reads its padded input) give what the same matrix packed densely gives the reference.
  std::mt19937 rng(9);
  for (QIsa isa : optimised_variants())
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t m = 1 + rng() % 20, k = 1 + rng() % 40, n = 1 + rng() % 70, k4 = (k + 3) / 4;
      std::vector<uint8_t> buffer(static_cast<size_t>(4 * n + 4 * 200));
      for (auto& v : buffer) v = static_cast<uint8_t>(rng());
      std::vector<int64_t> offsets;
      std::vector<uint8_t> x(static_cast<size_t>(k * n));
      for (int64_t q = 0; q < k4; ++q) offsets.push_back(static_cast<int64_t>(rng() % 200) * 4 + static_cast<int64_t>(rng() % 4));
      for (int64_t r = 0; r < k; ++r)
        for (int64_t c = 0; c < n; ++c) x[static_cast<size_t>(r * n + c)] = buffer[static_cast<size_t>(offsets[static_cast<size_t>(r / 4)] + 4 * c + r % 4)];
      // Bytes of a last partial quad beyond k meet zero weights; give them noise to prove it.
      Problem p = random_problem(rng, m, k, n, static_cast<int32_t>(rng() % 256), false);
      p.x = x;
      const QPackedWeights w = qgemm_pack_weights(isa, p.w.data(), m, k, k);
      const QPackedActivations indirect = qgemm_activations_indirect(isa, k, n, buffer.data(), offsets);
      const QOutputStage stage{p.mult.data(), 7, 0, 255};
      std::vector<uint8_t> got(static_cast<size_t>(m * n));
      qgemm(w, indirect, p.x_zp, p.bias.data(), 0, n, QOutput::UInt8, stage, got.data(), n);
      ASSERT_EQ(got, run(QIsa::Reference, p, QOutput::UInt8, stage, 0)) << qisa_name(isa) << " m=" << m << " k=" << k << " n=" << n;
    }
}

// A random product over a random range of rows and columns, with the output stages the
// kernels' epilogues branch on: every output type, wide columns (every 4th trial), per-row zero
// points (every 3rd), a narrowed range (every 5th), extreme values (every 7th), and every
// other trial only multipliers the folded requantization takes.
struct RangeCase {
  Problem p;
  QOutputStage stage;
  QOutput out = QOutput::Int32;
  std::vector<int32_t> row_zero_points;
  int64_t first = 0, last = 0, n_begin = 0, n_end = 0;  // rows [first, last), columns [n_begin, n_end)
  // Y's columns (the product's, less the dropped wide ones) and bytes per element.
  int64_t output_columns() const { return stage.column_pitch ? stage.kept_columns * (p.n / stage.column_pitch) : p.n; }
  size_t element_bytes() const { return out == QOutput::Int32 ? 4 : 1; }
};

void random_range_case(std::mt19937& rng, int trial, int64_t m, int64_t k, int64_t max_n, RangeCase& c) {
  int64_t n = 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(max_n));
  QOutputStage& stage = c.stage;
  if (trial % 4 == 3) {  // wide columns: n = pitch * output rows
    stage.column_pitch = 1 + static_cast<int64_t>(rng() % 12);
    stage.kept_columns = 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(stage.column_pitch));
    n = stage.column_pitch * (1 + static_cast<int64_t>(rng() % 8));
  }
  c.p = random_problem(rng, m, k, n, static_cast<int32_t>(rng() % 256), trial % 7 == 0);
  if (trial % 2 == 1) {  // every row's multiplier below 1/2, as convolutions' are: the kernels' folded requantization, whole panels of it
    std::uniform_real_distribution<double> log2_scale(-18.0, -1.5);
    for (auto& mult : c.p.mult) mult = dyadic_from_real(std::exp2(log2_scale(rng)));
  }
  const QOutput out = c.out = static_cast<QOutput>(trial % 3);
  stage.multipliers = c.p.mult.data();
  stage.zero_point = out == QOutput::Int8 ? -5 : 9;
  stage.qmin = out == QOutput::Int8 ? -128 : 0;
  stage.qmax = out == QOutput::Int8 ? 127 : 255;
  if (trial % 5 == 0) stage.qmin = out == QOutput::Int8 ? -90 : 20;
  if (trial % 3 == 1) {
    for (int64_t r = 0; r < m; ++r) c.row_zero_points.push_back(out == QOutput::Int8 ? static_cast<int32_t>(rng() % 256) - 128 : static_cast<int32_t>(rng() % 256));
    stage.zero_points = c.row_zero_points.data();
  }
  const int64_t panels = (m + kQgemmRowAlign - 1) / kQgemmRowAlign;
  c.first = static_cast<int64_t>(rng() % static_cast<uint32_t>(panels)) * kQgemmRowAlign;
  c.last = c.first + 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(m - c.first));
  c.n_begin = static_cast<int64_t>(rng() % static_cast<uint32_t>(n));
  c.n_end = c.n_begin + 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(n - c.n_begin));
}

TEST(Qgemm, RowsInLanesEqualsTheReferenceOnEveryActivationLayout) {
  // The 64x6 kernel (weight rows in vector lanes) on random problems: row ranges starting at
  // any multiple of 8 (inside a 64-row panel too), any column range, every activation layout
  // (Tiled both 32 and 6 columns wide, and A's rows in place), every output type, per-row zero
  // points, narrowed ranges, wide columns and extreme values; y must equal the reference's,
  // sentinels included.
  if (!qisa_supported(QIsa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  for (int trial = 0; trial < 200; ++trial) {
    // Every 25th k is longer than the kernel's blocks of k (2048 quads), so that tiles add to sums
    // they spilled; every 10th is up to 3000.
    const bool long_k = trial % 25 == 5;
    const int64_t m = 1 + static_cast<int64_t>(rng() % (long_k ? 70 : 150));
    int64_t k = long_k ? 8193 + static_cast<int64_t>(rng() % 4000) : 1 + static_cast<int64_t>(rng() % (trial % 10 == 0 ? 3000 : 200));
    if (trial % 2 == 0) k = (k + 3) / 4 * 4;  // A's rows can be read in place
    RangeCase c;
    random_range_case(rng, trial, m, k, 100, c);
    const auto& [p, stage, out, row_zero_points, first, last, n_begin, n_end] = c;
    const int64_t n = p.n;
    const int64_t ldy = c.output_columns();
    std::vector<uint8_t> expected(static_cast<size_t>(m * ldy) * c.element_bytes(), 0xA5), got = expected;
    const QPackedWeights ref_w = qgemm_pack_weights(QIsa::Reference, p.w.data(), m, k, k);
    const QPackedActivations ref_x = qgemm_pack_activations(QIsa::Reference, p.x.data(), k, n, n);
    qgemm_rows(ref_w, ref_x, p.x_zp, p.bias.data(), first, last, n_begin, n_end, out, stage, expected.data(), ldy);

    const QPackedWeights w = qgemm_pack_weights(QIsa::Avx512Vnni, p.w.data(), m, k, k, QWeightLayout::RowsInLanes);
    ASSERT_EQ(w.layout, QWeightLayout::RowsInLanes);
    // Tiled 32 wide, Strided, Indirect, Tiled 6 wide, A's rows in place (k a multiple of 4).
    const int layout = (trial / 3) % 5 == 4 && k % 4 != 0 ? 3 : (trial / 3) % 5;
    QPackedActivations x = qgemm_pack_activations(QIsa::Avx512Vnni, p.x.data(), k, n, n,
                                                  layout == 3 ? QPackedActivations::kNarrowTileColumns : QPackedActivations::kTileColumns);
    std::vector<uint8_t> buffer;
    if (layout == 4) {
      buffer = exact_transpose(p);
      x = qgemm_activations_rows(QIsa::Avx512Vnni, buffer.data(), k, n, k);
    }
    if (layout == 1 || layout == 2) {  // Strided, or the same bytes read through an offset table (Indirect)
      qgemm_activations_reset_strided(QIsa::Avx512Vnni, k, n, x);
      for (int64_t r = 0; r < (k + 3) / 4 * 4; ++r)
        for (int64_t c = 0; c < n; ++c) x.data[static_cast<size_t>((r / 4) * n * 4 + c * 4 + r % 4)] = r < k ? p.x[static_cast<size_t>(r * n + c)] : 0;
      if (layout == 2) {
        buffer = x.data;
        std::vector<int64_t> offsets;
        for (int64_t q = 0; q < (k + 3) / 4; ++q) offsets.push_back(q * n * 4);
        x = qgemm_activations_indirect(QIsa::Avx512Vnni, k, n, buffer.data(), offsets);
      }
    }
    qgemm_rows(w, x, p.x_zp, p.bias.data(), first, last, n_begin, n_end, out, stage, got.data(), ldy);
    ASSERT_EQ(got, expected) << "m " << m << " k " << k << " n " << n << " rows [" << first << ", " << last << ") columns [" << n_begin
                             << ", " << n_end << ") layout " << layout << " output " << static_cast<int>(out) << " pitch " << stage.column_pitch;
  }
}

TEST(Qgemm, TransposedOutputIsTheRowOutputTransposed) {
  // Y stored transposed ([N][M], QOutputStage::transposed) by every variant and weight layout,
  // on random problems, row and column ranges, output types, per-row zero points, narrowed
  // ranges, wide columns and extreme values. The expectation is the reference's row output,
  // transposed here element by element (sentinels included: unwritten elements stay 0xA5).
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  struct Variant {
    QIsa isa;
    QWeightLayout layout;
    int64_t tile_columns;
  };
  std::vector<Variant> variants{{QIsa::Reference, QWeightLayout::ColumnsInLanes, QPackedActivations::kTileColumns}};
  if (qisa_supported(QIsa::Avx2)) variants.push_back({QIsa::Avx2, QWeightLayout::ColumnsInLanes, QPackedActivations::kTileColumns});
  if (qisa_supported(QIsa::Avx512Vnni)) {
    variants.push_back({QIsa::Avx512Vnni, QWeightLayout::ColumnsInLanes, QPackedActivations::kTileColumns});
    variants.push_back({QIsa::Avx512Vnni, QWeightLayout::RowsInLanes, QPackedActivations::kTileColumns});
    variants.push_back({QIsa::Avx512Vnni, QWeightLayout::RowsInLanes, QPackedActivations::kNarrowTileColumns});
    variants.push_back({QIsa::Avx512Vnni, QWeightLayout::RowsInLanes, kRowsInPlace});
  }
  for (int trial = 0; trial < 150; ++trial) {
    // Every 25th k is longer than the 64x6 kernel's blocks of k (2048 quads), over at least one
    // whole 64-row panel (whose int32 sums its k loop stores itself, after the last block).
    const bool long_k = trial % 25 == 5;
    const int64_t m = long_k ? 64 + static_cast<int64_t>(rng() % 70) : 1 + static_cast<int64_t>(rng() % 150);
    int64_t k = long_k ? 8193 + static_cast<int64_t>(rng() % 4000) : 1 + static_cast<int64_t>(rng() % (trial % 10 == 0 ? 3000 : 200));
    if (trial % 2 == 0) k = (k + 3) / 4 * 4;  // A's rows can be read in place
    RangeCase c;
    random_range_case(rng, trial, m, k, long_k ? 40 : 140, c);
    const auto& [p, stage, out, row_zero_points, first, last, n_begin, n_end] = c;
    const int64_t n = p.n;
    const size_t elem = c.element_bytes();
    const int64_t out_columns = c.output_columns();
    std::vector<uint8_t> rows(static_cast<size_t>(m * out_columns) * elem, 0xA5);
    const QPackedWeights ref_w = qgemm_pack_weights(QIsa::Reference, p.w.data(), m, k, k);
    const QPackedActivations ref_x = qgemm_pack_activations(QIsa::Reference, p.x.data(), k, n, n);
    qgemm_rows(ref_w, ref_x, p.x_zp, p.bias.data(), first, last, n_begin, n_end, out, stage, rows.data(), out_columns);
    std::vector<uint8_t> expected(rows.size());
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < out_columns; ++c)
        std::memcpy(expected.data() + (c * m + r) * elem, rows.data() + (r * out_columns + c) * elem, elem);
    QOutputStage transposed = stage;
    transposed.transposed = true;
    for (const Variant& v : variants) {
      const QPackedWeights w = qgemm_pack_weights(v.isa, p.w.data(), m, k, k, v.layout);
      if (v.tile_columns == kRowsInPlace && k % 4 != 0) continue;
      const std::vector<uint8_t> xt = exact_transpose(p);
      const QPackedActivations x = v.tile_columns == kRowsInPlace ? qgemm_activations_rows(v.isa, xt.data(), k, n, k)
                                                                  : qgemm_pack_activations(v.isa, p.x.data(), k, n, n, v.tile_columns);
      std::vector<uint8_t> got(expected.size(), 0xA5);
      qgemm_rows(w, x, p.x_zp, p.bias.data(), first, last, n_begin, n_end, out, transposed, got.data(), m);
      ASSERT_EQ(got, expected) << qisa_name(v.isa) << (v.layout == QWeightLayout::RowsInLanes ? " rows in lanes" : "") << " W "
                               << v.tile_columns << " m " << m << " k " << k << " n " << n << " rows [" << first << ", " << last
                               << ") columns [" << n_begin << ", " << n_end << ") output " << static_cast<int>(out) << " pitch "
                               << stage.column_pitch << " (replay with --gtest_random_seed)";
    }
  }
}

TEST(Qgemm, TransposedBytesOfWholePanelsMatchTheReference) {
  // The 64x6 kernel's pipelined byte output: whole 64-row panels, every row's multiplier in the
  // folded form, no dropped columns; each tile's columns are finished during the next tile's k
  // loop (one every eighth k step; the rest after it when k is short, and the last tile at the
  // panel's end). Over k from 4 to 600 and the activation layouts it reads.
  if (!qisa_supported(QIsa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t m = 64 * (1 + static_cast<int64_t>(rng() % 3)), n = 1 + static_cast<int64_t>(rng() % 100);
    const int64_t k = 4 * (1 + static_cast<int64_t>(rng() % (trial % 3 == 0 ? 150 : 20)));
    Problem p = random_problem(rng, m, k, n, static_cast<int32_t>(rng() % 256), trial % 7 == 0);
    std::uniform_real_distribution<double> log2_scale(-18.0, -1.5);
    for (auto& mult : p.mult) mult = dyadic_from_real(std::exp2(log2_scale(rng)));
    const QOutput out = trial % 2 ? QOutput::Int8 : QOutput::UInt8;
    QOutputStage stage{p.mult.data(), out == QOutput::Int8 ? -7 : 11, out == QOutput::Int8 ? -128 : 0, out == QOutput::Int8 ? 127 : 255};
    std::vector<int32_t> row_zero_points;
    if (trial % 4 == 1) {
      for (int64_t r = 0; r < m; ++r) row_zero_points.push_back(static_cast<int32_t>(rng() % 200) - (out == QOutput::Int8 ? 100 : 0));
      stage.zero_points = row_zero_points.data();
    }
    std::vector<uint8_t> rows(static_cast<size_t>(m * n));
    const QPackedWeights ref_w = qgemm_pack_weights(QIsa::Reference, p.w.data(), m, k, k);
    const QPackedActivations ref_x = qgemm_pack_activations(QIsa::Reference, p.x.data(), k, n, n);
    const int64_t n_begin = static_cast<int64_t>(rng() % static_cast<uint32_t>(n));
    std::vector<uint8_t> expected(rows.size(), 0xA5);
    qgemm_rows(ref_w, ref_x, p.x_zp, p.bias.data(), 0, m, n_begin, n, out, stage, rows.data(), n);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = n_begin; c < n; ++c) expected[static_cast<size_t>(c * m + r)] = rows[static_cast<size_t>(r * n + c)];
    const QPackedWeights w = qgemm_pack_weights(QIsa::Avx512Vnni, p.w.data(), m, k, k, QWeightLayout::RowsInLanes);
    const std::vector<uint8_t> xt = exact_transpose(p);
    const QPackedActivations layouts[] = {
        qgemm_pack_activations(QIsa::Avx512Vnni, p.x.data(), k, n, n, QPackedActivations::kNarrowTileColumns),
        qgemm_pack_activations(QIsa::Avx512Vnni, p.x.data(), k, n, n, QPackedActivations::kTileColumns),
        qgemm_activations_rows(QIsa::Avx512Vnni, xt.data(), k, n, k)};
    QOutputStage transposed = stage;
    transposed.transposed = true;
    for (const QPackedActivations& x : layouts) {
      std::vector<uint8_t> got(expected.size(), 0xA5);
      qgemm(w, x, p.x_zp, p.bias.data(), n_begin, n, out, transposed, got.data(), m);
      ASSERT_EQ(got, expected) << "m " << m << " k " << k << " n " << n << " from " << n_begin << " layout "
                               << static_cast<int>(x.layout) << " W " << x.tile_columns << " (replay with --gtest_random_seed)";
    }
  }
}

TEST(Qgemm, LayoutChoiceWeighsWastedLanesAgainstStores) {
  // Hand-derived from the cost model (cycles per output: k / 128 over the lanes filled, plus 0.3
  // or 1 for the epilogue). k = 4608 (36 per output): 49 columns fill 49 of 64 lanes (47.3
  // cycles) against 512 rows filling all (37): rows. 1024 columns fill all: columns. 60 rows
  // (39.4) still beat 49 columns; 40 rows (58.6) do not. k = 32: the epilogue decides, columns.
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx512Vnni, 512, 49, 4608), QWeightLayout::RowsInLanes);
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx512Vnni, 60, 49, 4608), QWeightLayout::RowsInLanes);
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx512Vnni, 40, 49, 4608), QWeightLayout::ColumnsInLanes);
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx512Vnni, 512, 1024, 4608), QWeightLayout::ColumnsInLanes);
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx512Vnni, 512, 49, 32), QWeightLayout::ColumnsInLanes);
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx2, 512, 49, 4608), QWeightLayout::ColumnsInLanes);
  // Stored transposed, the epilogues swap costs (1 for ColumnsInLanes, 0.3 for RowsInLanes):
  // 1024 columns at k = 4608 now go to rows (36.3 against 37), and so does k = 32 (0.55
  // against 1.33); 10 rows at k = 256 fill 10 of 64 lanes (13.1) against 64 full columns (3).
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx512Vnni, 512, 1024, 4608, true), QWeightLayout::RowsInLanes);
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx512Vnni, 512, 49, 32, true), QWeightLayout::RowsInLanes);
  EXPECT_EQ(qgemm_layout_for(QIsa::Avx512Vnni, 10, 64, 256, true), QWeightLayout::ColumnsInLanes);
  EXPECT_EQ(qgemm_pack_weights(QIsa::Avx2, nullptr, 0, 0, 0, QWeightLayout::RowsInLanes).layout, QWeightLayout::ColumnsInLanes);
}

TEST(Qgemm, ThreadsSplitTheProductTheMoreEvenWay) {
  // Hand-derived. 784 columns are 25 tiles: 13 for the busier of two threads, 416 of 784
  // columns (1.06 of an even share), against 128 rows in 16 panels, 8 each (1.0): rows.
  // 3136 columns (98 tiles) split evenly: columns win the tie. 49 columns in two tiles (64 of
  // 49 columns: 1.31) against 512 rows in eight 64-row panels: rows. Fewer panels than
  // threads: columns; fewer tiles than threads: rows; one thread: columns.
  EXPECT_TRUE(qgemm_split_by_rows(128, 784, 8, 2));
  EXPECT_FALSE(qgemm_split_by_rows(64, 3136, 8, 2));
  EXPECT_TRUE(qgemm_split_by_rows(512, 49, 64, 2));
  EXPECT_FALSE(qgemm_split_by_rows(8, 49, 8, 2));
  EXPECT_TRUE(qgemm_split_by_rows(64, 20, 8, 2));
  EXPECT_FALSE(qgemm_split_by_rows(512, 49, 64, 1));
}

TEST(Qgemm, LongReductionsWrapLikeTheReference) {
  // K large enough that 255 * 127 * K passes 2^31: the int32 accumulator wraps in every variant.
  std::mt19937 rng(11);
  Problem p = random_problem(rng, 3, 70000, 5, 0, true);
  for (auto& v : p.w) v = 127;
  for (auto& v : p.x) v = 255;
  const auto expected = run(QIsa::Reference, p, QOutput::Int32, {}, 0);
  for (QIsa isa : optimised_variants()) EXPECT_EQ(run(isa, p, QOutput::Int32, {}, 0), expected) << qisa_name(isa);
}

TEST(Qgemm, RequantizesAccumulatorsNextToTheInt32Limit) {
  // 255 * 127 * 66311 = 2^31 - 1912: with the bias, row 0's accumulator is exactly 2^31 - 1.
  // Rescaled by a multiplier just below 1 (shift 31) it stays next to 2^31, and adding the zero
  // point must clamp to qmax as the reference's int64 sum does, not wrap; multipliers of 1 and
  // more take the general path.
  std::mt19937 rng(12);
  Problem p = random_problem(rng, 3, 66311, 5, 0, true);
  for (auto& v : p.w) v = 127;
  for (auto& v : p.x) v = 255;
  p.bias = {1912, 0, -3000};
  const auto accs = run(QIsa::Reference, p, QOutput::Int32, {}, 0);
  int32_t first;
  std::memcpy(&first, accs.data(), 4);
  ASSERT_EQ(first, INT32_MAX);
  for (double real : {0.99999999, 0.5, 1.0, 3.0}) {
    for (auto& mult : p.mult) mult = dyadic_from_real(real);
    const QOutputStage stage{p.mult.data(), 200, 0, 255};
    const auto requantized = run(QIsa::Reference, p, QOutput::UInt8, stage, 0);
    for (QIsa isa : optimised_variants()) EXPECT_EQ(run(isa, p, QOutput::UInt8, stage, 0), requantized) << qisa_name(isa) << " " << real;
  }
}

TEST(Qgemm, EverySupportedVariantRunsAndIsCounted) {
  std::mt19937 rng(3);
  const Problem p = random_problem(rng, 9, 20, 40, 128, false);
  for (int i = 0; i < kQIsaCount; ++i) {
    const QIsa isa = static_cast<QIsa>(i);
    if (!qisa_supported(isa)) {
      std::printf("variant %s: not supported by this CPU\n", qisa_name(isa));
      continue;
    }
    const int64_t before = qgemm_calls(isa);
    run(isa, p, QOutput::Int32, {}, 0);
    EXPECT_EQ(qgemm_calls(isa), before + 1) << qisa_name(isa);
    std::printf("variant %s: ran\n", qisa_name(isa));
  }
}

TEST(Qgemm, BestVariantHonoursForcing) {
  const char* forced = std::getenv("DYAD_FORCE_ISA");
  if (forced && *forced) {
    EXPECT_STREQ(qisa_name(qgemm_isa_best()), forced);
  } else {
    const QIsa expected = qisa_supported(QIsa::Avx512Vnni) ? QIsa::Avx512Vnni
                          : qisa_supported(QIsa::Avx2)   ? QIsa::Avx2
                                                         : QIsa::Reference;
    EXPECT_EQ(qgemm_isa_best(), expected);
  }
}

}  // namespace
}  // namespace dyad
