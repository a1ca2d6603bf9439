// The QDQ form of the emitter: QuantizeLinear / DequantizeLinear around float ops, with the same
// int8 weights, int32 bias and activation quantization as the integer-only form, for runtimes
// that fuse QDQ patterns themselves (ONNX Runtime turns them into QLinearConv, QGemm, ...).
#include <algorithm>
#include <cmath>

#include "lib/quant/integer_graph_builder.h"

namespace dyad::integer_emit {

// A float copy of an activation for a QDQ layer: DequantizeLinear of its uint8 value.
std::string IntegerGraphBuilder::dequantized(const std::string& float_name) {
  const QValue v = quantized(float_name);
  const std::string name = fresh(float_name + "_dq");
  emit_qdq_node("DequantizeLinear", v.name, name, float_name, v.q);
  return name;
}

// QDQ form of a layer: DequantizeLinear of uint8 activations, int8 per-channel weights and int32
// bias (the same values the integer form uses), the float op, a folded activation, QuantizeLinear.
bool IntegerGraphBuilder::emit_qdq(const Node& n) {
  const bool conv = n.op_type == "Conv", gemm = n.op_type == "Gemm", matmul = n.op_type == "MatMul";
  const Tensor* w = nullptr;
  int axis = 0;
  if (conv || gemm || matmul) {
    w = n.has_input(1) ? constant(n.inputs[1]) : nullptr;
    if (!w || w->dtype() != DType::Float32 || ((gemm || matmul) && w->rank() != 2)) return false;
    if (gemm && (n.get_int("transA", 0) != 0 || n.get_float("alpha", 1.0f) != 1.0f || n.get_float("beta", 1.0f) != 1.0f))
      return false;
    if (n.has_input(2) && !constant(n.inputs[2])) return false;
    axis = conv || (gemm && n.get_int("transB", 0) != 0) ? 0 : 1;
  } else if (n.op_type == "Add") {
    if (n.inputs.size() != 2 || constant(n.inputs[0]) || constant(n.inputs[1])) return false;
  } else if (elementwise_ops().count(n.op_type)) {
    // A nonlinearity (HardSwish, Sigmoid, ...) on one activation: DequantizeLinear, the float
    // op, QuantizeLinear, the QDQ group runtimes map to their quantized kernels or run as is.
    if (n.inputs.empty() || !is_activation(n.inputs[0])) return false;
    for (size_t i = 1; i < n.inputs.size(); ++i)
      if (!n.inputs[i].empty() && !constant(n.inputs[i])) return false;
    for (size_t i = 1; i < n.inputs.size(); ++i)
      if (!n.inputs[i].empty()) use_original_initializer(n.inputs[i]);
  } else if (n.op_type != "GlobalAveragePool" && n.op_type != "AveragePool") {
    return false;
  }
  if (n.outputs.size() != 1) return false;
  Node copy = n;
  const QValue input = quantized(n.inputs[0]);
  copy.inputs[0] = dequantized(n.inputs[0]);
  WeightQuant wq;
  if (w) {
    wq = quantize_weights_per_channel(*w, axis);
    const int64_t channels = static_cast<int64_t>(wq.scales.size());
    Node dq = make_node("DequantizeLinear",
                 {add_const(n.inputs[1] + "_quantized", wq.values),
                  add_const(n.inputs[1] + "_scales", Tensor::from_vector<float>(wq.scales, {channels}))},
                 {fresh(n.inputs[1] + "_dq")}, {{"axis", int_attribute(axis)}});
    copy.inputs[1] = dq.outputs[0];
    emit(std::move(dq));
    if (n.has_input(2)) {
      const Tensor& b = *constant(n.inputs[2]);
      if (b.numel() != channels) return false;
      std::vector<int32_t> q(static_cast<size_t>(channels));
      std::vector<float> scales(static_cast<size_t>(channels));
      for (int64_t c = 0; c < channels; ++c) {
        scales[static_cast<size_t>(c)] = input.q.scale * wq.scales[static_cast<size_t>(c)];
        const double v = std::nearbyint(b.get_as_double(c) / static_cast<double>(scales[static_cast<size_t>(c)]));
        q[static_cast<size_t>(c)] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
      }
      Node bias = make_node("DequantizeLinear",
                     {add_const(n.inputs[2] + "_quantized", Tensor::from_vector<int32_t>(q, {channels})),
                      add_const(n.inputs[2] + "_scales", Tensor::from_vector<float>(scales, {channels}))},
                     {fresh(n.inputs[2] + "_dq")}, {{"axis", int_attribute(0)}});
      copy.inputs[2] = bias.outputs[0];
      emit(std::move(bias));
    }
  } else if (n.op_type == "Add") {
    copy.inputs[1] = dequantized(n.inputs[1]);
  }
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  if (w && is_final_float_output(result, n.outputs[0])) {
    // The model's result stays float, as the integer form dequantizes its accumulators.
    used_.insert(result);
    copy.outputs = {result};
    emit(std::move(copy));
    available_.insert(result);
    record_layer(n, result, input, wq, "", n.outputs[0]);
    return true;
  }
  std::string value = fresh(n.outputs[0] + "_float");
  copy.outputs = {value};
  emit(std::move(copy));
  if (result != n.outputs[0]) {  // the folded Relu / Clip, in float before the quantizer
    Node act = g_.nodes[g_.consumers(n.outputs[0])[0]];
    for (size_t i = 1; i < act.inputs.size(); ++i)
      if (!act.inputs[i].empty()) use_original_initializer(act.inputs[i]);
    act.inputs[0] = value;
    value = fresh(result + "_float");
    act.outputs = {value};
    emit(std::move(act));
  }
  const ActivationQuant q = quant_for(result);
  const std::string name = fresh(result + "_q");
  emit_qdq_node("QuantizeLinear", value, name, result, q);
  quant_[result] = {name, q};
  if (w) record_layer(n, result, input, wq, "", n.outputs[0]);  // QDQ: no integer accumulator
  return true;
}

}  // namespace dyad::integer_emit
