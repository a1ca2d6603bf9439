// The W8A8 convolution (uint8 input, int8 weights without zero point) on integer_kernels:
// depthwise layers on the depthwise kernel, everything else on the integer GEMM, with int32
// output (ConvInteger) or the bias and dyadic rescale in the GEMM's output stage (the fused
// ai.dyad.exec.ConvIntegerRequant).
#pragma once
#include <vector>

#include "lib/exec/kernel.h"
#include "lib/exec/ops/conv_geometry.h"
#include "lib/quant/dyadic.h"

namespace dyad::ops {

// The output stage of a fused ConvIntegerRequant: bias per channel and the dyadic rescale.
struct ConvOutputStage {
  const int32_t* bias = nullptr;                   // per output channel
  const DyadicMultiplier* multipliers = nullptr;   // per output channel
  const int32_t* zero_points = nullptr;            // per output channel
  int32_t qmin = 0, qmax = 255;
};

// Requires a non-reference qgemm_isa_best(). Padding adds (z - z) * w = 0 everywhere.
Tensor integer_conv_kernels(const KernelContext& c, const WindowGeometry& g, const Tensor& x, const Tensor& w, int32_t x_zero_point,
                            Shape out_shape, const ConvOutputStage* stage = nullptr);

}  // namespace dyad::ops
