// The scalar reference of the integer depthwise convolution: the normative definition the SIMD
// variant must match bit for bit. Written for clarity, not speed.
#include "integer_kernels/qdepthwise_internal.h"

namespace dyad::qdepthwise_detail {

void qu8_qs8_dwconv__ref(const QDepthwiseShape& s, const uint8_t* x, int32_t x_zero_point, const int8_t* w,
                         const QDepthwiseOutput& out, void* y) {
  for (int64_t oh = 0; oh < s.out_height; ++oh)
    for (int64_t ow = 0; ow < s.out_width; ++ow) {
      // uint32 arithmetic: the int32 accumulator wraps like ConvInteger's, without UB.
      uint32_t acc = static_cast<uint32_t>(out.bias);
      for (int64_t kh = 0; kh < s.kernel_h; ++kh)
        for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
          const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h, iw = ow * s.stride_w - s.pad_w + kw * s.dilation_w;
          if (ih < 0 || ih >= s.height || iw < 0 || iw >= s.width) continue;
          const int32_t xv = static_cast<int32_t>(x[ih * s.width + iw]) - x_zero_point;
          acc += static_cast<uint32_t>(static_cast<int32_t>(w[kh * s.kernel_w + kw]) * xv);
        }
      write(out, y, oh * s.out_width + ow, static_cast<int32_t>(acc));
    }
}

}  // namespace dyad::qdepthwise_detail
