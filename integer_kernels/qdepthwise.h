// Integer depthwise 2-D convolution of `channels` planes (groups = channels: per channel one
// uint8 input plane, one int8 filter, one output stage), each:
//
//   acc[oh][ow] = bias + sum_{kh,kw} w[kh][kw] * (x[ih][iw] - x_zero_point)   int32, wrapping
//                 with ih = oh*sh - ph + kh*dh, iw = ow*sw - pw + kw*dw; taps outside x add 0
//   y[oh][ow]   = the int32 acc, or the dyadic requantization of it (lib/quant/dyadic.h)
//
// The integer GEMM is the wrong tool here: a depthwise layer is one filter row per channel, so
// an 8-row GEMM tile would run 1/8 full and every plane would pay an im2col. Variants: a scalar
// reference (qu8_qs8_dwconv__ref) and an AVX-512 one for width strides 1 and 2
// (qu8_qs8_dwconv_32__avx512vnni), picked by the same QIsa choice as the GEMM (qgemm_isa_best());
// other shapes fall back to the reference. qdepthwise_calls() counts calls per variant.
#pragma once
#include <cstdint>

#include "integer_kernels/qgemm.h"

namespace dyad {

struct QDepthwiseShape {
  int64_t height, width, out_height, out_width, kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

// One channel's output stage: bias plus, for uint8/int8 output, one multiplier.
struct QDepthwiseOutput {
  int32_t bias = 0;
  QOutput output = QOutput::Int32;
  DyadicMultiplier multiplier{};
  int32_t zero_point = 0, qmin = 0, qmax = 255;
};

// True when `isa` has a kernel for this shape (the reference runs every shape).
bool qdepthwise_supported(QIsa isa, const QDepthwiseShape& s);
// Runs the variant for `isa`, or the reference where that variant cannot take the shape. x holds
// the channels' planes one after another, w their KH x KW filters, out one stage per channel, and
// y receives the output planes one after another (int32 or bytes, per the stages' output type,
// which must be the same for all).
void qdepthwise_conv2d(QIsa isa, const QDepthwiseShape& s, int64_t channels, const uint8_t* x, int32_t x_zero_point, const int8_t* w,
                       const QDepthwiseOutput* out, void* y);
int64_t qdepthwise_calls(QIsa isa);

}  // namespace dyad
