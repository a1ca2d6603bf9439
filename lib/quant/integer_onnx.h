// From a float model and its calibration statistics to an integer-only ONNX graph (W8A8).
//
// Per layer: uint8 activations with a zero point (per tensor), int8 symmetric weights per output
// channel, int32 bias, and requantization by dyadic multipliers (lib/quant/dyadic.h) written as
// the model-local function ai.dyad.DyadicRequant of standard integer ops, which ONNX Runtime
// runs bit-exactly (../shared/docs/onnx-integer.md §1.3). One QuantizeLinear at each float input,
// one DequantizeLinear at each output; ops with no integer form run as declared float islands
// (DequantizeLinear -> op -> QuantizeLinear), listed in the result.
//
// Integer forms (functions in lib/quant/integer_functions.h):
//   - Conv, Gemm and MatMul with constant weights: ConvInteger / MatMulInteger + int32 bias (a
//     following Add of a bias vector is folded in) + DyadicRequant; a following Relu or constant
//     Clip is folded into the clamp.
//   - MatMul of two activations (attention): MatMulInteger with both zero points.
//   - Add of two activations or of an activation and a constant tensor: DyadicAdd. Mul of two
//     activations: an int32 product and DyadicRequant. Concat: inputs rescaled to one scale.
//   - Elementwise chains fed by one tensor (GELU written out with Erf, hard-swish, sigmoid,
//     x * sigmoid(x), scaling by a constant, ...): one 256-entry uint8 table and a Gather.
//   - Softmax over the last axis: an exp table on max - x, integer sums and division.
//   - LayerNormalization over the last axis: IntegerLayerNorm (exact integer mean and variance,
//     Newton integer square root).
//   - AveragePool, GlobalAveragePool and ReduceMean: integer sums and requantization.
//   - MaxPool, Pad, Relu, Clip and data movement (Reshape, Transpose, Gather, Slice, Split, ...)
//     directly on uint8; shape arithmetic copied as is.
// The opset-17 graph the emitter expects comes from lib/compress/opset_upgrade.h.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "lib/calib/calibrate.h"
#include "lib/ir/graph.h"

namespace dyad {

enum class QuantFormat {
  IntegerOnly,  // ConvInteger / MatMulInteger + dyadic requantization, as above
  Qdq,          // the same quantization as QuantizeLinear/DequantizeLinear around float ops, for
                // runtimes that fuse QDQ patterns themselves (ORT turns them into QLinearConv, QGemm)
};

struct IntegerEmitOptions {
  CalibMethod method = CalibMethod::Percentile;
  double percentile = 99.99;
  QuantFormat format = QuantFormat::IntegerOnly;
  // Nodes to leave in float (declared islands), by node name or op type: what ONNX Runtime's
  // nodes_to_exclude and NNCF's ignored_scope do, for layers too sensitive to quantize.
  std::set<std::string> keep_float;
  // Bias correction (Nagel et al. 2019, "Data-free quantization", §4.2 with empirical input
  // means): subtract the mean output shift the weight rounding causes, (W_q - W) E[x], from each
  // layer's bias. Needs CalibrationStats::channel_stats of the layer inputs; layers without
  // them are left as they are.
  bool bias_correction = true;
  // A Conv output read only by elementwise chains (which become tables) is requantized per
  // output channel, each channel over its own calibrated range clipped to the tensor's, and the
  // tables are per channel too: the depthwise layers of MobileNet-style nets, whose channels'
  // ranges differ by orders of magnitude, keep their small channels. Integer-only format only;
  // needs CalibrationStats::channel_stats of the Conv outputs.
  bool per_channel_preactivations = true;
  // A Conv, Gemm or MatMul output read only by elementwise chains is requantized to an int32
  // index of 2^table_index_bits levels (DyadicRequantIndex) instead of uint8, and each chain's
  // table has that many entries (per channel when per-channel): the nonlinearity then sees its
  // input at that resolution and only its output is rounded to 8 bits. 8 keeps uint8 indices.
  int table_index_bits = 8;
};

// One tensor kept as uint8 in the emitted graph: real = scale * (q - zero_point), or per
// channel (axis 1) with channel_scales and channel_zero_points when those are set.
struct QuantizedTensor {
  std::string float_name, integer_name;
  float scale = 1.0f;
  int32_t zero_point = 0;
  std::vector<float> channel_scales;
  std::vector<int32_t> channel_zero_points;
};

// One Conv, Gemm or MatMul made integer.
struct QuantizedLayer {
  std::string node, op, output;  // the float output it produces (after a folded activation)
  int weight_bits = 8;
  float weight_scale_min = 0, weight_scale_max = 0;  // over the output channels
  double weight_sqnr_db = 0;                         // the int8 weights against the float ones
  float input_scale = 1, output_scale = 1;
  int32_t input_zero_point = 0, output_zero_point = 0;
  // Where the layer's int32 accumulators (bias included) can be seen and changed: their tensor
  // in the integer graph, the int32 bias initializer added to make them (empty if none), the
  // float value they stand for (the pre-activation output), and per output channel the scale
  // s_x * s_w of one accumulator unit. Channels are axis 1 (Conv) or the last axis (matmuls).
  std::string accumulator, bias_initializer, preactivation;
  std::vector<double> accumulator_scales;
  bool channels_last = false;
  // The layer makes a graph output that nothing else reads: its accumulators are dequantized
  // straight to that float output (DequantizeLinear of the int32 values, per channel s_x * s_w),
  // with no uint8 step; output_scale and output_zero_point are then 0.
  bool float_output = false;
};

struct IntegerEmitResult {
  Model model;
  std::vector<std::string> float_islands;  // "<op> '<node>'" for each op left in float
  int quantized_layers = 0;                // Conv, Gemm and MatMul turned integer
  int tables = 0;                          // elementwise chains written as 256-entry tables
  int activation_matmuls = 0;              // MatMul of two activations (attention)
  int bias_corrected = 0;                  // layers whose bias absorbed the rounding shift
  std::vector<QuantizedLayer> layers;
  std::vector<QuantizedTensor> tensors;    // every uint8 value, by its float original
};

// `model` should be prepared (prepare_graph: BatchNorm folded, constants folded) and `stats`
// calibrated on it.
IntegerEmitResult emit_integer_onnx(const Model& model, const CalibrationStats& stats, const IntegerEmitOptions& options = {});

}  // namespace dyad
