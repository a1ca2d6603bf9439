// AVX-512 depthwise convolution for stride-1 width: sixteen outputs of a row stay in one
// register while all taps accumulate into it; taps reaching past the row's ends load through a
// lane mask (masked lanes read as 0 and never fault).
#include <immintrin.h>

#include <vector>

#include "lib/exec/depthwise.h"

namespace dyad {

void depthwise2d_avx512(const DepthwiseShape& s, const float* x, const float* w, float bias, float* y) {
  const int64_t chunks = (s.out_width + 15) / 16;
  // masks[chunk * KW + kw]: lanes whose input column (ow + kw*dw - pw) is inside the row.
  std::vector<__mmask16> masks(static_cast<size_t>(chunks * s.kernel_w));
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
      uint32_t m = 0;
      for (int64_t j = 0; j < 16; ++j) {
        const int64_t ow = c * 16 + j, iw = ow + kw * s.dilation_w - s.pad_w;
        if (ow < s.out_width && iw >= 0 && iw < s.width) m |= 1u << j;
      }
      masks[static_cast<size_t>(c * s.kernel_w + kw)] = static_cast<__mmask16>(m);
    }
  for (int64_t oh = 0; oh < s.out_height; ++oh) {
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t ow0 = c * 16;
      __m512 acc = _mm512_set1_ps(bias);
      for (int64_t kh = 0; kh < s.kernel_h; ++kh) {
        const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
        if (ih < 0 || ih >= s.height) continue;
        const float* row = x + ih * s.width;
        for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
          const int64_t iw0 = ow0 + kw * s.dilation_w - s.pad_w;
          // The address may lie before the row for masked-off lanes; it is only formed as an
          // integer offset so no out-of-range pointer is created.
          const __m512 v = _mm512_maskz_loadu_ps(masks[static_cast<size_t>(c * s.kernel_w + kw)],
                                                 reinterpret_cast<const float*>(reinterpret_cast<uintptr_t>(row) +
                                                                                static_cast<uintptr_t>(iw0 * 4)));
          acc = _mm512_fmadd_ps(_mm512_set1_ps(w[kh * s.kernel_w + kw]), v, acc);
        }
      }
      const int64_t left = s.out_width - ow0;
      const __mmask16 out_mask = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
      _mm512_mask_storeu_ps(y + oh * s.out_width + ow0, out_mask, acc);
    }
  }
}

}  // namespace dyad
