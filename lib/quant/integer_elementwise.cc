// Add, Mul, Concat, data movement and elementwise chains of the integer emitter.
#include <algorithm>
#include <cmath>

#include "lib/exec/executor.h"
#include "lib/quant/dyadic.h"
#include "lib/quant/integer_graph_builder.h"

namespace dyad::integer_emit {

// Ops whose output element depends on the same element of each input only. A chain of them fed
// by one quantized value is a function of 256 possible inputs: one table.
const std::set<std::string>& elementwise_ops() {
  static const std::set<std::string> ops = {
      "Abs",   "Neg",      "Relu",    "LeakyRelu", "Elu",        "Selu",   "Celu",  "Sigmoid", "HardSigmoid", "HardSwish",
      "Tanh",  "Erf",      "Exp",     "Log",       "Sqrt",       "Reciprocal",    "Softplus", "Softsign", "Sin", "Cos",
      "Floor", "Ceil",     "Round",   "Clip",      "ThresholdedRelu", "PRelu", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"};
  return ops;
}

bool IntegerGraphBuilder::is_metadata(const Node& n) const {
  // Shape arithmetic and other non-float work: copied unchanged. Shape and Size read only the
  // shape, which the uint8 version of a tensor shares.
  if (n.op_type == "Shape" || n.op_type == "Size") return true;
  for (const auto& in : n.inputs)
    if (is_activation(in)) return false;
  for (const auto& out : n.outputs)
    if (is_activation(out)) return false;
  return true;
}

void IntegerGraphBuilder::emit_metadata(const Node& n) {
  Node copy = n;
  for (auto& in : copy.inputs) {
    if (in.empty()) continue;
    if (is_activation(in)) in = quantized(in).name;
    else if (constant(in)) use_original_initializer(in);
    else ensure_float(in);
  }
  for (const auto& out : n.outputs) {
    used_.insert(out);
    available_.insert(out);
  }
  emit(std::move(copy));
}

bool IntegerGraphBuilder::feeds_only_tables(const std::string& value) const {
  if (g_.is_graph_output(value)) return false;
  const auto readers = g_.consumers(value);
  if (readers.empty()) return false;
  // The values computed from `value` alone through elementwise ops, in graph order.
  std::set<std::string> chain = {value};
  const int first = g_.producer(value);
  for (size_t i = first < 0 ? 0 : static_cast<size_t>(first) + 1; i < g_.nodes.size(); ++i) {
    const Node& n = g_.nodes[i];
    if (!n.domain.empty() || !elementwise_ops().count(n.op_type) || n.outputs.size() != 1) continue;
    bool from_chain = false, other = false;
    for (const auto& in : n.inputs) {
      if (in.empty()) continue;
      if (const Tensor* c = constant(in); c && c->numel() == 1 && c->rank() <= 1) continue;
      (chain.count(in) ? from_chain : other) = true;
    }
    if (from_chain && !other) chain.insert(n.outputs[0]);
  }
  for (size_t r : readers) {
    const Node& n = g_.nodes[r];
    // Relu or Clip straight on a uint8 value is emitted as a clamp, not a table.
    if (!chain.count(n.outputs.empty() ? std::string() : n.outputs[0]) || n.op_type == "Relu" || n.op_type == "Clip" ||
        options_.keep_float.count(n.op_type) || (!n.name.empty() && options_.keep_float.count(n.name)))
      return false;
  }
  return true;
}

bool IntegerGraphBuilder::defer_elementwise(const Node& n, size_t index) {
  if (!elementwise_ops().count(n.op_type) || n.outputs.size() != 1 || !is_activation(n.outputs[0])) return false;
  std::string root;
  for (const auto& in : n.inputs) {
    if (in.empty()) continue;
    if (constant(in)) {
      const Tensor* t = constant(in);
      if (t->numel() != 1 || t->rank() > 1) return false;  // per-channel constants do not fit one table
      continue;
    }
    if (!is_activation(in)) return false;
    const std::string r = deferred_.count(in) ? deferred_.at(in).root : in;
    if (!root.empty() && r != root) return false;
    root = r;
  }
  if (root.empty()) return false;
  // A Relu or Clip of a value that already exists in uint8 is cheaper as Max / Clip.
  if ((n.op_type == "Relu" || n.op_type == "Clip") && !deferred_.count(n.inputs[0])) return false;
  deferred_[n.outputs[0]] = {root, index};
  return true;
}

void IntegerGraphBuilder::materialize_table(const std::string& value) {
  const std::string root = deferred_.at(value).root;
  // The chain's nodes, from the root to `value`, in graph order.
  std::set<size_t> chain;
  std::vector<std::string> pending = {value};
  while (!pending.empty()) {
    const std::string v = pending.back();
    pending.pop_back();
    auto it = deferred_.find(v);
    if (it == deferred_.end() || !chain.insert(it->second.node).second) continue;
    for (const auto& in : g_.nodes[it->second.node].inputs)
      if (!in.empty() && in != root && !constant(in)) pending.push_back(in);
  }
  Model table_model;
  table_model.opset_imports = {{"", 17}};
  Graph& tg = table_model.graph;
  const QValue x = quantized(root);
  // The root's quantizations: one, or one per channel (then the table holds 256 entries per
  // channel and the index adds 256 * channel).
  const std::vector<ActivationQuant> roots = per_channel_.count(root) ? per_channel_.at(root) : std::vector<ActivationQuant>{x.q};
  tg.inputs.push_back({root, DType::Float32, true, {}});  // its size is set below
  tg.outputs.push_back({value, DType::Float32, false, {}});
  for (size_t i : chain) {
    tg.nodes.push_back(g_.nodes[i]);
    for (const auto& in : g_.nodes[i].inputs)
      if (const Tensor* c = constant(in)) tg.initializers[in] = *c;
  }
  const ActivationQuant q = quant_for(value);
  const size_t channels = roots.size();
  const int64_t per_channel = int64_t{x.q.qmax} + 1;  // 256, or 2^b for a wide index
  const int64_t entries = per_channel * static_cast<int64_t>(channels);
  tg.inputs[0].dims = {Dim{entries, ""}};
  Tensor levels(DType::Float32, {entries});
  for (size_t c = 0; c < channels; ++c) {
    const ActivationQuant& r = roots[c];
    for (int64_t k = 0; k < per_channel; ++k)
      levels.data<float>()[static_cast<int64_t>(c) * per_channel + k] = r.scale * static_cast<float>(k - r.zero_point);
  }
  const Tensor y = Executor(table_model, {.threads = 1}).run({{root, levels}})[0];
  if (y.numel() != entries) fail("elementwise chain ending at '{}' does not keep its input's shape", value);
  Tensor table(DType::UInt8, {entries});
  for (int64_t k = 0; k < entries; ++k) table.data<uint8_t>()[k] = static_cast<uint8_t>(q.quantize(y.data<float>()[k]));

  // The index: the root's bytes (or its wide int32 index), plus 256 (2^b) * channel for a
  // per-channel root.
  if (!root_index_.count(root)) {
    std::string index = x.name;
    if (per_channel == 256) {
      index = fresh(root + "_index");
      emit(make_node("Cast", {x.name}, {index}, {{"to", int_attribute(static_cast<int64_t>(DType::Int32))}}));
    }
    if (channels > 1) {  // + 256 * channel, broadcast over [N, C, spatial...]
      const int64_t rank = known_rank(root);
      if (rank < 2) fail("per-channel value '{}' has no known channel axis", root);
      Shape offsets_shape(static_cast<size_t>(rank - 1), 1);
      offsets_shape[0] = static_cast<int64_t>(channels);
      std::vector<int32_t> offsets;
      for (size_t c = 0; c < channels; ++c) offsets.push_back(static_cast<int32_t>(per_channel * static_cast<int64_t>(c)));
      const std::string shifted = fresh(root + "_channel_index");
      emit(make_node("Add", {index, add_const(root + "_channel_offsets", Tensor::from_vector<int32_t>(offsets, offsets_shape))}, {shifted}));
      index = shifted;
    }
    root_index_[root] = index;
  }
  const std::string name = fresh(value + "_q");
  emit(make_node("Gather", {add_const(value + "_table", std::move(table)), root_index_.at(root)}, {name}, {{"axis", int_attribute(0)}}));
  quant_[value] = {name, q};
  ++result_.tables;
}

std::string IntegerGraphBuilder::rescaled(const QValue& x, const ActivationQuant& target, const std::string& base) {
  if (x.q.scale == target.scale && x.q.zero_point == target.zero_point) return x.name;
  const std::string acc = centered_int32(x, base);
  const DyadicMultiplier dm = dyadic_from_real(static_cast<double>(x.q.scale) / target.scale);
  const std::string name = fresh(base + "_rescaled");
  call("DyadicRequant",
       {acc, i64(base + "_M", dm.m), i64(base + "_D", int64_t{1} << dm.s), i64(base + "_H", dm.s > 0 ? int64_t{1} << (dm.s - 1) : 0),
        i64(base + "_ZP", target.zero_point), i64(base + "_QMIN", 0), i64(base + "_QMAX", 255)},
       name);
  return name;
}

bool IntegerGraphBuilder::emit_add(const Node& n) {
  // Two activations, or an activation and a constant tensor (a position embedding): both as
  // uint8 with their own scales, summed by DyadicAdd with one rounding.
  if (n.op_type != "Add" || n.inputs.size() != 2 || (constant(n.inputs[0]) && constant(n.inputs[1]))) return false;
  for (const auto& in : n.inputs)
    if (const Tensor* c = constant(in); c && c->dtype() != DType::Float32) return false;
  const QValue a = quantized(n.inputs[0]), b = quantized(n.inputs[1]);
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  const ActivationQuant q = quant_for(result);
  const double ra = static_cast<double>(a.q.scale) / q.scale, rb = static_cast<double>(b.q.scale) / q.scale;
  if (!dyadic_multiplier_valid(ra) || !dyadic_multiplier_valid(rb)) return false;
  const DyadicAddMultipliers d = dyadic_add_from_real(ra, rb);
  const auto [qmin, qmax] = clamp_bounds(q, lo, hi);
  const std::string name = fresh(result + "_q");
  call("DyadicAdd",
       {a.name, b.name, i64(result + "_ZA", a.q.zero_point), i64(result + "_MA", d.ma), i64(result + "_ZB", b.q.zero_point),
        i64(result + "_MB", d.mb), i64(result + "_D", int64_t{1} << d.s), i64(result + "_H", d.s > 0 ? int64_t{1} << (d.s - 1) : 0),
        i64(result + "_ZP", q.zero_point), i64(result + "_QMIN", qmin), i64(result + "_QMAX", qmax)},
       name);
  quant_[result] = {name, q};
  return true;
}

bool IntegerGraphBuilder::emit_mul(const Node& n) {
  // Two activations (a gate such as squeeze-and-excitation): (a - za)(b - zb) fits int32, then
  // one requantization by s_a s_b / s_y.
  if (n.op_type != "Mul" || n.inputs.size() != 2 || !is_activation(n.inputs[0]) || !is_activation(n.inputs[1])) return false;
  const QValue a = quantized(n.inputs[0]), b = quantized(n.inputs[1]);
  const std::string product = fresh(n.outputs[0] + "_product");
  emit(make_node("Mul", {centered_int32(a, n.outputs[0] + "_a"), centered_int32(b, n.outputs[0] + "_b")}, {product}));
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  requantize(product, {static_cast<double>(a.q.scale) * b.q.scale / quant_for(result).scale}, {}, result, lo, hi);
  return true;
}

bool IntegerGraphBuilder::emit_concat(const Node& n) {
  // Inputs are brought to the output's scale and zero point, then concatenated as uint8.
  for (const auto& in : n.inputs)
    if (in.empty() || (!is_activation(in) && !(constant(in) && constant(in)->dtype() == DType::Float32))) return false;
  const ActivationQuant q = quant_for(n.outputs[0]);
  Node copy = n;
  for (size_t i = 0; i < n.inputs.size(); ++i) copy.inputs[i] = rescaled(quantized(n.inputs[i]), q, n.outputs[0] + "_in" + std::to_string(i));
  const std::string name = fresh(n.outputs[0] + "_q");
  copy.outputs = {name};
  emit(std::move(copy));
  quant_[n.outputs[0]] = {name, q};
  return true;
}

bool IntegerGraphBuilder::emit_same_scale(const Node& n) {
  // Ops that move or select uint8 values without changing their scale; the data is input 0 and
  // every other input is a constant or shape data.
  static const std::set<std::string> moves = {"MaxPool", "Reshape",   "Flatten", "Transpose",    "Squeeze",      "Unsqueeze",
                                              "Identity", "Gather", "Slice",   "Split",        "Expand",       "Tile",
                                              "DepthToSpace", "SpaceToDepth"};
  const bool relu = n.op_type == "Relu", clip = n.op_type == "Clip", pad = n.op_type == "Pad";
  if ((!moves.count(n.op_type) && !relu && !clip && !pad) || !is_activation(n.inputs[0])) return false;
  if (n.op_type == "MaxPool" && n.outputs.size() > 1) return false;  // the indices output is not a move
  for (size_t i = 1; i < n.inputs.size(); ++i)
    if (is_activation(n.inputs[i])) return false;
  if ((pad || clip) && ((n.has_input(1) && !constant(n.inputs[1])) || (n.has_input(2) && !constant(n.inputs[2])))) return false;
  if (pad && (n.has_input(3) || n.get_string("mode", "constant") != "constant")) return false;
  const QValue x = quantized(n.inputs[0]);
  Node copy = n;
  copy.inputs[0] = x.name;
  for (size_t i = 1; i < copy.inputs.size(); ++i) {
    if (copy.inputs[i].empty()) continue;
    if (constant(copy.inputs[i])) use_original_initializer(copy.inputs[i]);
    else ensure_float(copy.inputs[i]);
  }
  for (auto& out : copy.outputs) out = fresh(out + "_q");
  if (relu) {  // max(x, z): real 0 is the zero point
    copy = make_node("Max", {x.name, u8(n.outputs[0] + "_zero", x.q.zero_point)}, copy.outputs);
  } else if (clip) {
    const auto bound = [&](size_t i, int32_t fallback) {
      return n.has_input(i) ? x.q.quantize(static_cast<float>(constant(n.inputs[i])->get_as_double(0))) : fallback;
    };
    copy.inputs = {x.name, u8(n.outputs[0] + "_qmin", bound(1, 0)), u8(n.outputs[0] + "_qmax", bound(2, 255))};
  } else if (pad) {  // the padding value, quantized (real 0 pads with the zero point)
    const float value = n.has_input(2) ? static_cast<float>(constant(n.inputs[2])->get_as_double(0)) : 0.0f;
    copy.inputs.resize(3);
    copy.inputs[2] = u8(n.outputs[0] + "_pad_value", x.q.quantize(value));
  }
  for (size_t i = 0; i < n.outputs.size(); ++i) quant_[n.outputs[i]] = {copy.outputs[i], x.q};
  emit(std::move(copy));
  return true;
}

}  // namespace dyad::integer_emit
