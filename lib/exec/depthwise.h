// Depthwise 2-D convolution of one channel plane (groups = channels, one filter per channel):
//   y[oh][ow] = bias + sum_{kh,kw} w[kh][kw] * x[oh*sh - ph + kh*dh][ow*sw - pw + kw*dw]   (0 outside x)
// A scalar reference (depthwise2d_ref, any stride) and an AVX-512 variant for stride-1 width,
// chosen at run time; tests/sgemm_tile_test.cc checks them against each other.
#pragma once
#include <cstdint>

namespace dyad {

struct DepthwiseShape {
  int64_t height, width, out_height, out_width, kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

void depthwise2d_ref(const DepthwiseShape& s, const float* x, const float* w, float bias, float* y);
// Requires stride_w == 1 and an AVX-512 CPU (see sgemm_tile_avx512_available).
void depthwise2d_avx512(const DepthwiseShape& s, const float* x, const float* w, float bias, float* y);

}  // namespace dyad
