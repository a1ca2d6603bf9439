// From a float model and its calibration statistics to an integer-only ONNX graph (W8A8).
//
// Per layer: uint8 activations with a zero point (per tensor), int8 symmetric weights per output
// channel, int32 bias, and requantization by dyadic multipliers (lib/quant/dyadic.h) written as
// the model-local function ai.dyad.DyadicRequant of standard integer ops, which ONNX Runtime
// runs bit-exactly (../shared/docs/onnx-integer.md §1.3). One QuantizeLinear at each float input,
// one DequantizeLinear at each output; ops with no integer form run as declared float islands
// (DequantizeLinear -> op -> QuantizeLinear), listed in the result.
//
// Integer forms: Conv, Gemm and MatMul with constant weights (ConvInteger / MatMulInteger + bias +
// requantization, a following Relu or constant Clip folded into the clamp), Relu and Clip on
// uint8, MaxPool, Pad (padding value quantized), AveragePool (a depthwise ConvInteger of ones), GlobalAveragePool (ReduceSum),
// Add of two activations (ai.dyad.DyadicAdd), and Reshape, Flatten, Transpose, Squeeze, Unsqueeze
// on uint8.
#pragma once
#include <string>
#include <vector>

#include "lib/calib/calibrate.h"
#include "lib/ir/graph.h"

namespace dyad {

struct IntegerEmitOptions {
  CalibMethod method = CalibMethod::Percentile;
  double percentile = 99.99;
};

struct IntegerEmitResult {
  Model model;
  std::vector<std::string> float_islands;  // "<op> '<node>'" for each op left in float
  int quantized_layers = 0;                // Conv, Gemm and MatMul turned integer
};

// `model` should be prepared (prepare_graph: BatchNorm folded, constants folded) and `stats`
// calibrated on it.
IntegerEmitResult emit_integer_onnx(const Model& model, const CalibrationStats& stats, const IntegerEmitOptions& options = {});

}  // namespace dyad
