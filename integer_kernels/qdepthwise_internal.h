// Per-variant entry points behind qdepthwise_conv2d(); internal to integer_kernels.
#pragma once
#include "integer_kernels/qdepthwise.h"

namespace dyad::qdepthwise_detail {

// Writes one finished accumulator as the output type: the int32 itself, or requantized.
inline void write(const QDepthwiseOutput& out, void* y, int64_t i, int32_t acc) {
  if (out.output == QOutput::Int32) {
    static_cast<int32_t*>(y)[i] = acc;
    return;
  }
  const int32_t q = dyadic_requantize(acc, out.multiplier, out.zero_point, out.qmin, out.qmax);
  if (out.output == QOutput::UInt8) static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(q);
  else static_cast<int8_t*>(y)[i] = static_cast<int8_t>(q);
}

// One channel.
void qu8_qs8_dwconv__ref(const QDepthwiseShape& s, const uint8_t* x, int32_t x_zero_point, const int8_t* w,
                         const QDepthwiseOutput& out, void* y);
// All channels (the lane masks are shared); stride_w 1 or 2 only.
void qu8_qs8_dwconv_32__avx512vnni(const QDepthwiseShape& s, int64_t channels, const uint8_t* x, int32_t x_zero_point, const int8_t* w,
                               const QDepthwiseOutput* out, void* y);

}  // namespace dyad::qdepthwise_detail
