// The emitter's internals (lib/quant/integer_onnx.h is the interface): one class walks the
// prepared float graph in topological order and writes the integer graph. Its methods are
// spread over files by the kind of op they handle:
//   integer_onnx.cc          the walk, values, and layers with weights (Conv, Gemm, MatMul)
//   integer_elementwise.cc   Add, Mul, Concat, data movement, elementwise chains as tables
//   integer_reductions.cc    pooling, ReduceMean, Softmax, LayerNormalization, MatMul of activations
//   integer_qdq.cc           the QDQ form
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "lib/quant/integer_functions.h"
#include "lib/quant/integer_onnx.h"
#include "lib/quant/quant_params.h"

namespace dyad::integer_emit {

// Elementwise ops (integer_elementwise.cc): chains of them become tables.
const std::set<std::string>& elementwise_ops();

class IntegerGraphBuilder {
 public:
  IntegerGraphBuilder(const Model& src, const CalibrationStats& stats, const IntegerEmitOptions& options)
      : src_(src), g_(src.graph), stats_(stats), options_(options) {}

  IntegerEmitResult build();

 private:
  struct QValue {
    std::string name;  // uint8 tensor in the output graph
    ActivationQuant q;
  };
  // An elementwise op whose result is a function of one quantized value (its root) alone; it is
  // emitted only if something needs the value, as a 256-entry table indexed by the root.
  struct Deferred {
    std::string root;
    size_t node = 0;
  };

  // --- names, constants and values (integer_onnx.cc)
  std::string fresh(const std::string& base);
  std::string add_const(const std::string& base, Tensor t);
  std::string i64(const std::string& base, int64_t v) { return add_const(base, Tensor::scalar<int64_t>(v)); }
  std::string u8(const std::string& base, int32_t v) {
    return add_const(base, Tensor::scalar<uint8_t>(static_cast<uint8_t>(v)));
  }
  void emit(Node n) { out_.graph.nodes.push_back(std::move(n)); }
  void call(const std::string& function, std::vector<std::string> inputs, const std::string& output);
  void emit_qdq_node(const char* op_type, const std::string& input, const std::string& output, const std::string& base,
                     ActivationQuant q);
  const Tensor* constant(const std::string& name) const;
  bool is_scalar_constant(const std::string& name) const;
  bool is_activation(const std::string& name) const;
  void use_original_initializer(const std::string& name);
  // Its calibrated quantization: uint8, or `levels` steps for a wide table index.
  ActivationQuant quant_for(const std::string& float_name, int32_t levels = 256) const;
  QValue quantized(const std::string& float_name);
  QValue quantized_constant(const std::string& name);
  void ensure_float(const std::string& float_name);
  const ValueInfo* value_info(const std::string& name) const;  // from shape inference, or the graph's inputs/outputs
  int64_t known_rank(const std::string& name) const;        // -1 if unknown
  int64_t channel_count(const std::string& name) const;     // dimension 1, or -1 if unknown
  bool is_last_axis(const std::string& name, int64_t axis) const;

  // --- requantization
  // Where a Relu or constant Clip alone reads `value`: the tensor to take the range from and the
  // extra clamp, and marks that node as folded.
  std::string fold_activation(const std::string& value, float& lo, float& hi);
  std::pair<int32_t, int32_t> clamp_bounds(const ActivationQuant& q, float lo, float hi) const;
  // A DyadicRequant call of `acc` by `real` with `zero_points` (one value each, or one per
  // channel in `constant_shape`), clamped to [qmin, qmax]; returns its output, named for `result`.
  std::string dyadic_requant(const std::string& acc, const std::vector<double>& real, Shape constant_shape,
                             const std::string& result, const std::vector<int64_t>& zero_points, int32_t qmin, int32_t qmax,
                             bool index = false);
  // DyadicRequant of an int32 accumulator by `real` (one multiplier, or one per channel in
  // `constant_shape`) into `result`'s quantization.
  void requantize(const std::string& acc, const std::vector<double>& real, Shape constant_shape, const std::string& result,
                  float lo, float hi);
  // True when every reader of `value` is an elementwise op the table chains take (scalar
  // constants, other inputs from the same chain), so its uint8 form feeds tables alone.
  bool feeds_only_tables(const std::string& value) const;
  // True when a layer's `result` (no activation folded after its `output`) is a graph output
  // that nothing else reads: both forms then leave it float, with no 8-bit step.
  bool is_final_float_output(const std::string& result, const std::string& output) const {
    return result == output && g_.is_graph_output(result) && g_.consumers(result).empty();
  }
  // Per-channel DyadicRequant of a Conv accumulator into `result` (per_channel_preactivations).
  void requantize_per_channel(const std::string& acc, const std::vector<double>& in_times_weight_scales, Shape constant_shape,
                              const std::string& result, const ChannelStats& channels, int32_t levels);
  // x - zero point as int32.
  std::string centered_int32(const QValue& x, const std::string& base);
  // `x` rescaled to `target` (for Concat inputs); x itself when the quantization is equal.
  std::string rescaled(const QValue& x, const ActivationQuant& target, const std::string& base);

  // --- layers with constant weights (integer_onnx.cc)
  void record_layer(const Node& n, const std::string& result, const QValue& input, const WeightQuant& wq, const std::string& acc,
                    const std::string& preactivation);
  std::string add_bias(const Node& n, const std::string& acc, const Tensor& bias, const QValue& input, const WeightQuant& wq,
                       const Shape& shape);
  void finish_layer(const Node& n, const std::string& output, const std::string& acc, const QValue& input,
                    const WeightQuant& wq, const Shape& shape);
  // The float bias a layer should add: its own (or zeros), minus the weight-rounding shift when
  // bias correction applies. Empty if the layer has no bias and needs none.
  std::vector<double> corrected_bias(const Node& n, const Tensor& w, const Tensor* bias, const WeightQuant& wq, bool conv,
                                     bool trans_b);
  std::string add_bias(const Node& n, const std::string& acc, const std::vector<double>& bias, const QValue& input,
                       const WeightQuant& wq, const Shape& shape);
  bool emit_conv(const Node& n);
  bool emit_matmul(const Node& n);
  // A following Add of a constant bias vector (how exporters write Linear on 3-D inputs).
  const Node* bias_add_after(const std::string& value, int64_t columns, const Tensor** bias) const;

  // --- elementwise and data movement (integer_elementwise.cc)
  bool emit_add(const Node& n);
  bool emit_mul(const Node& n);
  bool emit_concat(const Node& n);
  bool emit_same_scale(const Node& n);
  bool defer_elementwise(const Node& n, size_t index);
  void materialize_table(const std::string& value);
  bool is_metadata(const Node& n) const;
  void emit_metadata(const Node& n);

  // --- reductions and attention (integer_reductions.cc)
  bool emit_global_average_pool(const Node& n);
  bool emit_average_pool(const Node& n);
  bool emit_reduce_mean(const Node& n);
  bool emit_softmax(const Node& n);
  bool emit_layer_norm(const Node& n);
  bool emit_matmul_activations(const Node& n);
  // Sum over `axes` of x - z as int32, then requantized by s_x / (s_y * count).
  bool emit_mean(const Node& n, const std::vector<int64_t>& axes, bool keepdims);

  // --- QDQ form (integer_qdq.cc)
  bool emit_qdq(const Node& n);
  std::string dequantized(const std::string& float_name);

  void emit_float_island(const Node& n);

  const Model& src_;
  const Graph& g_;
  const CalibrationStats& stats_;
  const IntegerEmitOptions& options_;
  Model out_;
  IntegerEmitResult result_;
  std::map<std::string, QValue> quant_;       // float name -> its uint8 version
  std::map<std::string, std::vector<ActivationQuant>> per_channel_;  // values quantized per channel (axis 1)
  std::map<std::string, Deferred> deferred_;  // float name -> how to compute it from its root
  std::map<std::string, std::string> root_index_;  // root float name -> its int32 table index
  std::map<std::string, std::string> bias_of_accumulator_;  // accumulator after a bias Add -> the bias initializer
  std::set<std::string> available_;           // names that exist unchanged in the output graph
  std::set<std::string> used_;
  std::set<std::string> functions_;           // ai.dyad functions called
  std::set<const Node*> folded_;              // nodes folded into an earlier one
  int counter_ = 0;
};

}  // namespace dyad::integer_emit
