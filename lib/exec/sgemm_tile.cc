#include "lib/exec/sgemm_tile.h"
#include <cstddef>

namespace dyad {

std::vector<float> sgemm_pack_a(const float* a, int64_t m, int64_t k, int64_t lda) {
  const int64_t panels = (m + kSgemmRows - 1) / kSgemmRows;
  std::vector<float> packed(static_cast<size_t>(panels * kSgemmRows * k), 0.0f);
  for (int64_t p = 0; p < panels; ++p)
    for (int64_t r = 0; r < kSgemmRows && p * kSgemmRows + r < m; ++r) {
      const float* row = a + (p * kSgemmRows + r) * lda;
      float* dst = packed.data() + p * kSgemmRows * k + r;
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * kSgemmRows] = row[kk];
    }
  return packed;
}

// The reference: the same contract in plain loops, accumulating in float in k order.
void sgemm_tile_ref(const float* packed_a, int64_t m, int64_t k, const float* b, int64_t ldb, int64_t n_begin,
                    int64_t n_end, float* c, int64_t ldc, const float* bias) {
  for (int64_t row = 0; row < m; ++row) {
    const float* pa = packed_a + (row / kSgemmRows) * kSgemmRows * k + row % kSgemmRows;
    for (int64_t col = n_begin; col < n_end; ++col) {
      float acc = bias ? bias[row] : 0.0f;
      for (int64_t kk = 0; kk < k; ++kk) acc += pa[kk * kSgemmRows] * b[kk * ldb + col];
      c[row * ldc + col] = acc;
    }
  }
}

void implicit_conv_ref(const float* packed_a, int64_t m, const ImplicitConvShape& s, const float* src,
                       int64_t p_begin, int64_t p_end, float* y, const float* bias) {
  const int64_t taps = static_cast<int64_t>(s.taps.size()), k = s.channels * taps, plane = s.height * s.width;
  for (int64_t row = 0; row < m; ++row) {
    const float* pa = packed_a + (row / kSgemmRows) * kSgemmRows * k + row % kSgemmRows;
    for (int64_t p = p_begin; p < p_end; ++p) {
      const int64_t oh = p / s.width, ow = p % s.width;
      float acc = bias ? bias[row] : 0.0f;
      for (int64_t c = 0; c < s.channels; ++c)
        for (int64_t t = 0; t < taps; ++t) {
          const ImplicitTap& tap = s.taps[static_cast<size_t>(t)];
          if (oh + tap.dy < 0 || oh + tap.dy >= s.height || ow + tap.dx < 0 || ow + tap.dx >= s.width) continue;
          acc += pa[(c * taps + t) * kSgemmRows] * src[c * s.channel_stride + tap.offset + p];
        }
      y[row * plane + p] = acc;
    }
  }
}

SgemmTileFn sgemm_tile_best() { return sgemm_tile_avx512_available() ? sgemm_tile_avx512 : nullptr; }

}  // namespace dyad
