// qu8_qs8_gemm_8x32c4__avx512vnni: 8 weight rows x 32 activation columns per register tile,
// four k per vpdpbusd (u8 activations x s8 weights, exact int32 sums, wrapping like the
// reference). Epilogue: per row, acc += bias - z * rowsum, then the dyadic rescale in int64
// lanes (even and odd 32-bit lanes multiplied separately with vpmuldq), zero point, clamp, and a
// truncating narrow to bytes, which is exact because the values are already in range.
#include <immintrin.h>

#include <cstring>

#include "integer_kernels/qgemm_internal.h"
#include "integer_kernels/requantize_avx512.h"

namespace dyad::qgemm_detail {

// BW and VL too: this file and the depthwise kernel are compiled with them.
bool avx512vnni_cpu() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}

namespace {

inline __mmask16 lane_mask(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : count <= 0 ? 0 : static_cast<__mmask16>((1u << count) - 1);
}

struct Epilogue {
  const OutputStage& out;

  // Finishes sixteen columns [col, col + 16) (masked) of row `row`.
  void store(__m512i acc, int64_t row, int64_t col, __mmask16 mask) const {
    acc = _mm512_add_epi32(acc, _mm512_set1_epi32(static_cast<int32_t>(out.offset(row))));
    const QOutput output = out.output;
    void* y = out.y;
    const int64_t ldy = out.ldy;
    const QOutputStage& stage = out.stage;
    if (output == QOutput::Int32) {
      _mm512_mask_storeu_epi32(static_cast<int32_t*>(y) + row * ldy + col, mask, acc);
      return;
    }
    const __m512i q = requantize16(acc, stage.multipliers[row], stage.zero_point_of(row), stage.qmin, stage.qmax);
    if (output == QOutput::UInt8) _mm512_mask_cvtepi32_storeu_epi8(static_cast<uint8_t*>(y) + row * ldy + col, mask, q);
    else _mm512_mask_cvtepi32_storeu_epi8(static_cast<int8_t*>(y) + row * ldy + col, mask, q);
  }
};

// Named accumulators (GCC 12 keeps an array of vectors in memory; named ones stay in registers).
#define DYAD_QROW_INIT(r) __m512i c##r##0 = _mm512_setzero_si512(), c##r##1 = _mm512_setzero_si512();
#define DYAD_QROW_DOT(r)                                   \
  {                                                        \
    int32_t packed;                                        \
    std::memcpy(&packed, pw + r * 4, 4);                   \
    const __m512i wv = _mm512_set1_epi32(packed);          \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, b0, wv);        \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, b1, wv);        \
  }
#define DYAD_QROW_STORE(r)                                 \
  if (r < kValidRows) {                                    \
    e.store(c##r##0, row0 + r, col0, m0);                  \
    if (m1) e.store(c##r##1, row0 + r, col0 + 16, m1);     \
  }

template <int kValidRows>
void tile(const int8_t* panel, int64_t k4, const uint8_t* const* quads, int64_t row0, int64_t col0, int64_t cols,
          const Epilogue& e) {
  const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
  DYAD_QROW_INIT(0) DYAD_QROW_INIT(1) DYAD_QROW_INIT(2) DYAD_QROW_INIT(3)
  DYAD_QROW_INIT(4) DYAD_QROW_INIT(5) DYAD_QROW_INIT(6) DYAD_QROW_INIT(7)
  const int8_t* pw = panel;
  if (m1 == 0xFFFF) {  // a full tile: unmasked loads
    for (int64_t kk = 0; kk < k4; ++kk, pw += kVnniRows * 4) {
      const uint8_t* px = quads[kk] + col0 * 4;
      const __m512i b0 = _mm512_loadu_si512(px);
      const __m512i b1 = _mm512_loadu_si512(px + 64);
      DYAD_QROW_DOT(0) DYAD_QROW_DOT(1) DYAD_QROW_DOT(2) DYAD_QROW_DOT(3)
      DYAD_QROW_DOT(4) DYAD_QROW_DOT(5) DYAD_QROW_DOT(6) DYAD_QROW_DOT(7)
    }
  } else {
    for (int64_t kk = 0; kk < k4; ++kk, pw += kVnniRows * 4) {
      const uint8_t* px = quads[kk] + col0 * 4;
      const __m512i b0 = _mm512_maskz_loadu_epi32(m0, px);
      const __m512i b1 = _mm512_maskz_loadu_epi32(m1, px + 64);
      DYAD_QROW_DOT(0) DYAD_QROW_DOT(1) DYAD_QROW_DOT(2) DYAD_QROW_DOT(3)
      DYAD_QROW_DOT(4) DYAD_QROW_DOT(5) DYAD_QROW_DOT(6) DYAD_QROW_DOT(7)
    }
  }
  DYAD_QROW_STORE(0) DYAD_QROW_STORE(1) DYAD_QROW_STORE(2) DYAD_QROW_STORE(3)
  DYAD_QROW_STORE(4) DYAD_QROW_STORE(5) DYAD_QROW_STORE(6) DYAD_QROW_STORE(7)
}

#undef DYAD_QROW_INIT
#undef DYAD_QROW_DOT
#undef DYAD_QROW_STORE

using TileFn = void (*)(const int8_t*, int64_t, const uint8_t* const*, int64_t, int64_t, int64_t, const Epilogue&);
constexpr TileFn kTiles[kVnniRows + 1] = {nullptr,  tile<1>, tile<2>, tile<3>, tile<4>,
                                          tile<5>, tile<6>, tile<7>, tile<8>};

}  // namespace

void qu8_qs8_gemm_8x32c4__avx512vnni(const QPackedWeights& w, const uint8_t* const* quads, int32_t x_zero_point,
                                     const int32_t* bias, int64_t n_begin, int64_t n_end, QOutput output,
                                     const QOutputStage& stage, void* y, int64_t ldy) {
  const OutputStage out{w, x_zero_point, bias, output, stage, y, ldy};
  const Epilogue e{out};
  const int64_t k4 = (w.k + 3) / 4;
  for (int64_t col0 = n_begin; col0 < n_end; col0 += kVnniCols) {
    const int64_t cols = n_end - col0 < kVnniCols ? n_end - col0 : kVnniCols;
    for (int64_t row0 = 0; row0 < w.m; row0 += kVnniRows) {
      const int64_t rows = w.m - row0 < kVnniRows ? w.m - row0 : kVnniRows;
      kTiles[rows](w.data.data() + (row0 / kVnniRows) * k4 * kVnniRows * 4, k4, quads, row0, col0, cols, e);
    }
  }
}

}  // namespace dyad::qgemm_detail
