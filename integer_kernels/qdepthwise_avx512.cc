// qu8_qs8_dwconv_16__avx512: integer depthwise convolution for stride-1 width. Sixteen outputs
// of a row stay in one int32 register while every tap accumulates into it: sixteen input bytes
// are widened to int32, the zero point subtracted, and multiplied by the tap's weight. Taps past
// a row's ends load through a lane mask and the subtraction is masked too, so those lanes add
// exactly 0, as the reference's skipped taps do. The int32 adds wrap like the reference's.
#include <immintrin.h>

#include <vector>

#include "integer_kernels/qdepthwise_internal.h"
#include "integer_kernels/requantize_avx512.h"

namespace dyad::qdepthwise_detail {

void qu8_qs8_dwconv_16__avx512(const QDepthwiseShape& s, const uint8_t* x, int32_t x_zero_point, const int8_t* w,
                               const QDepthwiseOutput& out, void* y) {
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
  const __m512i zero_point = _mm512_set1_epi32(x_zero_point);
  for (int64_t oh = 0; oh < s.out_height; ++oh) {
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t ow0 = c * 16;
      __m512i acc = _mm512_set1_epi32(out.bias);
      for (int64_t kh = 0; kh < s.kernel_h; ++kh) {
        const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
        if (ih < 0 || ih >= s.height) continue;
        const uint8_t* row = x + ih * s.width;
        for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
          const __mmask16 mask = masks[static_cast<size_t>(c * s.kernel_w + kw)];
          const int64_t iw0 = ow0 + kw * s.dilation_w - s.pad_w;
          // The address may lie before the row for masked-off lanes; it is only formed as an
          // integer offset so no out-of-range pointer is created, and masked lanes never fault.
          const __m128i bytes = _mm_maskz_loadu_epi8(
              mask, reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(row) + static_cast<uintptr_t>(iw0)));
          const __m512i xv = _mm512_maskz_sub_epi32(mask, _mm512_cvtepu8_epi32(bytes), zero_point);
          acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, _mm512_set1_epi32(w[kh * s.kernel_w + kw])));
        }
      }
      const int64_t left = s.out_width - ow0;
      const __mmask16 store_mask = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
      const int64_t at = oh * s.out_width + ow0;
      if (out.output == QOutput::Int32) {
        _mm512_mask_storeu_epi32(static_cast<int32_t*>(y) + at, store_mask, acc);
        continue;
      }
      const __m512i q = requantize16(acc, out.multiplier, out.zero_point, out.qmin, out.qmax);
      if (out.output == QOutput::UInt8) _mm512_mask_cvtepi32_storeu_epi8(static_cast<uint8_t*>(y) + at, store_mask, q);
      else _mm512_mask_cvtepi32_storeu_epi8(static_cast<int8_t*>(y) + at, store_mask, q);
    }
  }
}

}  // namespace dyad::qdepthwise_detail
