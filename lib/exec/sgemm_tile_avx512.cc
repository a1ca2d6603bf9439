// AVX-512 variant of sgemm_tile (compiled with -mavx512f; called only when the CPU has it).
//
// Tile: 8 rows x 32 columns = 16 zmm accumulators. Per k step: two loads of B (masked at the
// right edge, which also suppresses faults past the end), eight broadcasts of packed A, sixteen
// FMAs, so the two FMA pipes stay busy while the loads come from L1.
#include <immintrin.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "lib/exec/sgemm_tile.h"

namespace dyad {

// DYAD_DISABLE_AVX512=1 forces the portable paths (reference kernels, Eigen), so tests can run
// them on machines that have AVX-512.
bool sgemm_tile_avx512_available() {
  static const bool available = [] {
    const char* off = std::getenv("DYAD_DISABLE_AVX512");
    return __builtin_cpu_supports("avx512f") && !(off && *off && std::string(off) != "0");
  }();
  return available;
}

namespace {

inline __mmask16 lane_mask(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : count <= 0 ? 0 : static_cast<__mmask16>((1u << count) - 1);
}

// Accumulators are named variables, not an array: GCC 12 keeps an array of __m512 in memory and
// stores it every iteration (a 3x slowdown measured here), but keeps named ones in registers.
#define DYAD_ROW_INIT(r) \
  __m512 c##r##0 = _mm512_set1_ps(bias && r < kValidRows ? bias[r] : 0.0f), c##r##1 = c##r##0;
#define DYAD_ROW_FMA(r)                             \
  {                                                 \
    const __m512 av = _mm512_set1_ps(a[r]);         \
    c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);     \
    c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);     \
  }
#define DYAD_ROW_STORE(r)                                   \
  if (r < kValidRows) {                                     \
    _mm512_mask_storeu_ps(c + r * ldc, m0, c##r##0);        \
    _mm512_mask_storeu_ps(c + r * ldc + 16, m1, c##r##1);   \
  }

template <int kValidRows>
void tile(const float* pa, int64_t k, const float* b, int64_t ldb, float* c, int64_t ldc, const float* bias,
          int64_t cols) {
  const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
  DYAD_ROW_INIT(0) DYAD_ROW_INIT(1) DYAD_ROW_INIT(2) DYAD_ROW_INIT(3)
  DYAD_ROW_INIT(4) DYAD_ROW_INIT(5) DYAD_ROW_INIT(6) DYAD_ROW_INIT(7)
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + kk * ldb);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + kk * ldb + 16);
    const float* a = pa + kk * kSgemmRows;
    DYAD_ROW_FMA(0) DYAD_ROW_FMA(1) DYAD_ROW_FMA(2) DYAD_ROW_FMA(3)
    DYAD_ROW_FMA(4) DYAD_ROW_FMA(5) DYAD_ROW_FMA(6) DYAD_ROW_FMA(7)
  }
  DYAD_ROW_STORE(0) DYAD_ROW_STORE(1) DYAD_ROW_STORE(2) DYAD_ROW_STORE(3)
  DYAD_ROW_STORE(4) DYAD_ROW_STORE(5) DYAD_ROW_STORE(6) DYAD_ROW_STORE(7)
}

// The same tile for the implicit "same" convolution: B rows come straight from the input with
// per-tap lane masks (taps in the padding read as 0; masked loads never fault).
template <int kValidRows>
void implicit_conv_tile(const float* pa, const ImplicitConvShape& s, const float* x, int64_t p0, float* c, int64_t ldc,
                        const float* bias, int64_t cols, const uint32_t* tap_masks, const int64_t* tap_offsets) {
  DYAD_ROW_INIT(0) DYAD_ROW_INIT(1) DYAD_ROW_INIT(2) DYAD_ROW_INIT(3)
  DYAD_ROW_INIT(4) DYAD_ROW_INIT(5) DYAD_ROW_INIT(6) DYAD_ROW_INIT(7)
  const int64_t taps = static_cast<int64_t>(s.taps.size());
  const float* a = pa;
  for (int64_t ch = 0; ch < s.channels; ++ch) {
    const float* xc = x + ch * s.channel_stride + p0;
    for (int64_t t = 0; t < taps; ++t, a += kSgemmRows) {
      const uint32_t mask = tap_masks[t];
      const float* src = xc + tap_offsets[t];
      const __m512 b0 = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), src);
      const __m512 b1 = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask >> 16), src + 16);
      DYAD_ROW_FMA(0) DYAD_ROW_FMA(1) DYAD_ROW_FMA(2) DYAD_ROW_FMA(3)
      DYAD_ROW_FMA(4) DYAD_ROW_FMA(5) DYAD_ROW_FMA(6) DYAD_ROW_FMA(7)
    }
  }
  const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
  DYAD_ROW_STORE(0) DYAD_ROW_STORE(1) DYAD_ROW_STORE(2) DYAD_ROW_STORE(3)
  DYAD_ROW_STORE(4) DYAD_ROW_STORE(5) DYAD_ROW_STORE(6) DYAD_ROW_STORE(7)
}

// Lanes (of 16) whose coordinate v + offset lies in [0, limit).
inline __mmask16 in_range(__m512i v, int64_t offset, int64_t limit) {
  const __m512i shifted = _mm512_add_epi32(v, _mm512_set1_epi32(static_cast<int32_t>(offset)));
  return _mm512_cmpge_epi32_mask(shifted, _mm512_setzero_si512()) &
         _mm512_cmplt_epi32_mask(shifted, _mm512_set1_epi32(static_cast<int32_t>(limit)));
}

#undef DYAD_ROW_INIT
#undef DYAD_ROW_FMA
#undef DYAD_ROW_STORE

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, const float*, int64_t);
constexpr TileFn kTiles[kSgemmRows + 1] = {nullptr,  tile<1>, tile<2>, tile<3>, tile<4>,
                                           tile<5>, tile<6>, tile<7>, tile<8>};

using ImplicitConvTileFn = void (*)(const float*, const ImplicitConvShape&, const float*, int64_t, float*, int64_t,
                                    const float*, int64_t, const uint32_t*, const int64_t*);
constexpr ImplicitConvTileFn kImplicitConvTiles[kSgemmRows + 1] = {
    nullptr, implicit_conv_tile<1>, implicit_conv_tile<2>, implicit_conv_tile<3>, implicit_conv_tile<4>,
    implicit_conv_tile<5>, implicit_conv_tile<6>, implicit_conv_tile<7>, implicit_conv_tile<8>};

}  // namespace

void implicit_conv_avx512(const float* packed_a, int64_t m, const ImplicitConvShape& s, const float* x,
                          int64_t p_begin, int64_t p_end, float* y, const float* bias) {
  const size_t taps = s.taps.size();
  const int64_t k = s.channels * static_cast<int64_t>(taps), plane = s.height * s.width;
  std::vector<uint32_t> tap_masks(taps);
  std::vector<int64_t> tap_offsets(taps);
  for (size_t t = 0; t < taps; ++t) tap_offsets[t] = s.taps[t].offset;
  alignas(64) int32_t row[kSgemmCols], col[kSgemmCols];
  for (int64_t p0 = p_begin; p0 < p_end; p0 += kSgemmCols) {
    const int64_t cols = p_end - p0 < kSgemmCols ? p_end - p0 : kSgemmCols;
    // Output coordinates of the tile's lanes, without a division per lane.
    int32_t oh = static_cast<int32_t>(p0 / s.width), ow = static_cast<int32_t>(p0 % s.width);
    for (int j = 0; j < kSgemmCols; ++j) {
      row[j] = oh;
      col[j] = ow;
      if (++ow == s.width) ow = 0, ++oh;
    }
    const __m512i r0 = _mm512_load_si512(row), r1 = _mm512_load_si512(row + 16);
    const __m512i c0 = _mm512_load_si512(col), c1 = _mm512_load_si512(col + 16);
    const uint32_t valid = cols >= 32 ? 0xFFFFFFFFu : ((1u << cols) - 1);
    // A tap reads its lane only where the shifted coordinate is inside the plane.
    for (size_t t = 0; t < taps; ++t) {
      const ImplicitTap& tap = s.taps[t];
      const uint32_t mh = in_range(r0, tap.dy, s.height) | (static_cast<uint32_t>(in_range(r1, tap.dy, s.height)) << 16);
      const uint32_t mw = in_range(c0, tap.dx, s.width) | (static_cast<uint32_t>(in_range(c1, tap.dx, s.width)) << 16);
      tap_masks[t] = mh & mw & valid;
    }
    for (int64_t m0 = 0; m0 < m; m0 += kSgemmRows) {
      const int64_t rows = m - m0 < kSgemmRows ? m - m0 : kSgemmRows;
      kImplicitConvTiles[rows](packed_a + m0 * k, s, x, p0, y + m0 * plane + p0, plane, bias ? bias + m0 : nullptr,
                               cols, tap_masks.data(), tap_offsets.data());
    }
  }
}

void sgemm_tile_avx512(const float* packed_a, int64_t m, int64_t k, const float* b, int64_t ldb, int64_t n_begin,
                       int64_t n_end, float* c, int64_t ldc, const float* bias) {
  for (int64_t n0 = n_begin; n0 < n_end; n0 += kSgemmCols) {
    const int64_t cols = n_end - n0 < kSgemmCols ? n_end - n0 : kSgemmCols;
    for (int64_t m0 = 0; m0 < m; m0 += kSgemmRows) {
      const int64_t rows = m - m0 < kSgemmRows ? m - m0 : kSgemmRows;
      kTiles[rows](packed_a + m0 * k, k, b + n0, ldb, c + m0 * ldc + n0, ldc, bias ? bias + m0 : nullptr, cols);
    }
  }
}

}  // namespace dyad
