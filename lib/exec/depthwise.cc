#include <algorithm>

#include "lib/exec/depthwise.h"

namespace dyad {

// Each kernel tap adds a scaled input row segment to the output row; the segment's valid range
// is computed once per tap, so the inner loop has no bounds tests.
void depthwise2d_ref(const DepthwiseShape& s, const float* x, const float* w, float bias, float* y) {
  for (int64_t oh = 0; oh < s.out_height; ++oh) {
    float* out = y + oh * s.out_width;
    for (int64_t ow = 0; ow < s.out_width; ++ow) out[ow] = bias;
    for (int64_t kh = 0; kh < s.kernel_h; ++kh) {
      const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
      if (ih < 0 || ih >= s.height) continue;
      for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
        const float wv = w[kh * s.kernel_w + kw];
        const int64_t off = kw * s.dilation_w - s.pad_w;  // input column of output ow is ow * sw + off
        const int64_t sw = s.stride_w;
        const int64_t lo = std::clamp<int64_t>(off >= 0 ? 0 : (-off + sw - 1) / sw, 0, s.out_width);
        const int64_t hi = std::clamp<int64_t>(s.width - off > 0 ? (s.width - off + sw - 1) / sw : 0, lo, s.out_width);
        const float* src = x + ih * s.width + off;
        if (sw == 1)
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] += wv * src[ow];
        else
          for (int64_t ow = lo; ow < hi; ++ow) out[ow] += wv * src[ow * sw];
      }
    }
  }
}

}  // namespace dyad
