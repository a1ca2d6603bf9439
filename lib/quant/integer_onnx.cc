#include "lib/quant/integer_onnx.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lib/quant/dyadic.h"
#include "lib/quant/integer_graph_builder.h"

namespace dyad {

namespace integer_emit {

std::string IntegerGraphBuilder::fresh(const std::string& base) {
  std::string name = base;
  while (used_.count(name) || g_.initializers.count(name) || g_.find_value_info(name) || g_.producer(name) >= 0)
    name = base + "_" + std::to_string(++counter_);
  used_.insert(name);
  return name;
}

std::string IntegerGraphBuilder::add_const(const std::string& base, Tensor t) {
  const std::string name = fresh(base);
  out_.graph.initializers[name] = std::move(t);
  return name;
}

void IntegerGraphBuilder::call(const std::string& function, std::vector<std::string> inputs, const std::string& output) {
  Node n = make_node(function, std::move(inputs), {output});
  n.domain = kDyadDomain;
  emit(std::move(n));
  functions_.insert(function);
}

void IntegerGraphBuilder::emit_qdq_node(const char* op_type, const std::string& input, const std::string& output,
                                        const std::string& base, ActivationQuant q) {
  emit(make_node(op_type, {input, add_const(base + "_scale", Tensor::scalar<float>(q.scale)), u8(base + "_zero_point", q.zero_point)},
                 {output}));
}

const Tensor* IntegerGraphBuilder::constant(const std::string& name) const {
  auto it = g_.initializers.find(name);
  return it == g_.initializers.end() ? nullptr : &it->second;
}

bool IntegerGraphBuilder::is_scalar_constant(const std::string& name) const {
  const Tensor* t = constant(name);
  return t && t->numel() == 1 && t->dtype() == DType::Float32;
}

bool IntegerGraphBuilder::is_activation(const std::string& name) const {
  return !name.empty() && !constant(name) && stats_.tensors.count(name);
}

void IntegerGraphBuilder::use_original_initializer(const std::string& name) {
  if (const Tensor* t = constant(name)) out_.graph.initializers[name] = *t;
}

ActivationQuant IntegerGraphBuilder::quant_for(const std::string& float_name, int32_t levels) const {
  auto it = stats_.tensors.find(float_name);
  if (it == stats_.tensors.end()) fail("no calibration statistics for tensor '{}'", float_name);
  // A graph input keeps its whole observed range: its values are the data themselves (8-bit
  // image pixels, normalized, fit the uint8 grid exactly), and whatever clipping removes there
  // no later layer can recover. MobileNetV3 and the ViT gained 10 and 12 test images of 10,000.
  CalibMethod method = options_.method;
  for (const auto& in : src_.graph.inputs)
    if (in.name == float_name) method = CalibMethod::MinMax;
  return uint8_quant(it->second.range(method, options_.percentile), levels);
}

IntegerGraphBuilder::QValue IntegerGraphBuilder::quantized(const std::string& float_name) {
  if (auto it = quant_.find(float_name); it != quant_.end()) return it->second;
  if (deferred_.count(float_name)) {
    materialize_table(float_name);
    return quant_.at(float_name);
  }
  if (constant(float_name)) return quantized_constant(float_name);
  ensure_float(float_name);
  const ActivationQuant q = quant_for(float_name);
  const std::string name = fresh(float_name + "_q");
  emit_qdq_node("QuantizeLinear", float_name, name, float_name, q);
  return quant_[float_name] = {name, q};
}

// A constant operand of an activation op (a position embedding, a bias that could not be
// folded), quantized per tensor over its own range like an activation.
IntegerGraphBuilder::QValue IntegerGraphBuilder::quantized_constant(const std::string& name) {
  const Tensor& t = *constant(name);
  FloatRange range;  // starts at {0, 0}: real zero stays representable
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float v = static_cast<float>(t.get_as_double(i));
    range.min = std::min(range.min, v);
    range.max = std::max(range.max, v);
  }
  const ActivationQuant q = uint8_quant(range);
  Tensor values(DType::UInt8, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) values.data<uint8_t>()[i] = static_cast<uint8_t>(q.quantize(static_cast<float>(t.get_as_double(i))));
  return quant_[name] = {add_const(name + "_quantized", std::move(values)), q};
}

void IntegerGraphBuilder::ensure_float(const std::string& float_name) {
  if (available_.count(float_name)) return;
  if (constant(float_name)) {
    use_original_initializer(float_name);
    available_.insert(float_name);
    return;
  }
  if (!quant_.count(float_name) && !deferred_.count(float_name))
    fail("tensor '{}' has no value in the integer graph", float_name);
  const QValue v = quantized(float_name);
  // Back to float under the original name (free: the quantized value has its own name).
  used_.insert(float_name);
  emit_qdq_node("DequantizeLinear", v.name, float_name, float_name, v.q);
  available_.insert(float_name);
}

const ValueInfo* IntegerGraphBuilder::value_info(const std::string& name) const {
  if (const ValueInfo* vi = g_.find_value_info(name)) return vi;
  for (const auto* list : {&g_.inputs, &g_.outputs})
    for (const auto& v : *list)
      if (v.name == name) return &v;
  return nullptr;
}

int64_t IntegerGraphBuilder::known_rank(const std::string& name) const {
  const ValueInfo* vi = value_info(name);
  return vi && vi->has_shape ? static_cast<int64_t>(vi->dims.size()) : -1;
}

int64_t IntegerGraphBuilder::channel_count(const std::string& name) const {
  const ValueInfo* vi = value_info(name);
  return vi && vi->has_shape && vi->dims.size() > 1 && vi->dims[1].known() ? vi->dims[1].value : -1;
}

bool IntegerGraphBuilder::is_last_axis(const std::string& name, int64_t axis) const {
  return axis == -1 || (axis >= 0 && axis == known_rank(name) - 1);
}

std::string IntegerGraphBuilder::fold_activation(const std::string& value, float& lo, float& hi) {
  lo = -std::numeric_limits<float>::infinity();
  hi = std::numeric_limits<float>::infinity();
  const auto readers = g_.consumers(value);
  if (readers.size() != 1 || g_.is_graph_output(value)) return value;
  const Node& act = g_.nodes[readers[0]];
  if (!act.domain.empty()) return value;
  if (act.op_type == "Relu") {
    lo = 0;
  } else if (act.op_type == "Clip") {
    const Tensor* min_t = act.has_input(1) ? constant(act.inputs[1]) : nullptr;
    const Tensor* max_t = act.has_input(2) ? constant(act.inputs[2]) : nullptr;
    if ((act.has_input(1) && !min_t) || (act.has_input(2) && !max_t)) return value;
    if (min_t) lo = static_cast<float>(min_t->get_as_double(0));
    if (max_t) hi = static_cast<float>(max_t->get_as_double(0));
  } else {
    return value;
  }
  folded_.insert(&act);
  return act.outputs[0];
}

std::pair<int32_t, int32_t> IntegerGraphBuilder::clamp_bounds(const ActivationQuant& q, float lo, float hi) const {
  return {std::isfinite(lo) ? std::max(0, q.quantize(lo)) : 0, std::isfinite(hi) ? std::min(q.qmax, q.quantize(hi)) : q.qmax};
}

std::string IntegerGraphBuilder::dyadic_requant(const std::string& acc, const std::vector<double>& real, Shape constant_shape,
                                                const std::string& result, const std::vector<int64_t>& zero_points, int32_t qmin,
                                                int32_t qmax, bool index) {
  std::vector<int64_t> m, d, h;
  for (double r : real) {
    if (!dyadic_multiplier_valid(r)) fail("tensor '{}': requantization multiplier {} is out of range", result, r);
    const DyadicMultiplier dm = dyadic_from_real(r);
    m.push_back(dm.m);
    d.push_back(int64_t{1} << dm.s);
    h.push_back(dm.s > 0 ? int64_t{1} << (dm.s - 1) : 0);
  }
  auto per_channel = [&](const char* suffix, const std::vector<int64_t>& v) {
    return v.size() == 1 ? i64(result + suffix, v[0]) : add_const(result + suffix, Tensor::from_vector<int64_t>(v, constant_shape));
  };
  const std::string name = fresh(result + "_q");
  call(index ? "DyadicRequantIndex" : "DyadicRequant",
       {acc, per_channel("_M", m), per_channel("_D", d), per_channel("_H", h), per_channel("_ZP", zero_points),
        i64(result + "_QMIN", qmin), i64(result + "_QMAX", qmax)},
       name);
  return name;
}

void IntegerGraphBuilder::requantize(const std::string& acc, const std::vector<double>& real, Shape constant_shape,
                                     const std::string& result, float lo, float hi) {
  const ActivationQuant q = quant_for(result);
  const auto [qmin, qmax] = clamp_bounds(q, lo, hi);
  quant_[result] = {dyadic_requant(acc, real, std::move(constant_shape), result, {q.zero_point}, qmin, qmax), q};
}

std::string IntegerGraphBuilder::centered_int32(const QValue& x, const std::string& base) {
  const std::string wide = fresh(base + "_i32"), centered = fresh(base + "_centered");
  emit(make_node("Cast", {x.name}, {wide}, {{"to", int_attribute(static_cast<int64_t>(DType::Int32))}}));
  emit(make_node("Sub", {wide, add_const(base + "_zp32", Tensor::scalar<int32_t>(x.q.zero_point))}, {centered}));
  return centered;
}

void IntegerGraphBuilder::record_layer(const Node& n, const std::string& result, const QValue& input, const WeightQuant& wq,
                                       const std::string& acc, const std::string& preactivation) {
  QuantizedLayer layer;
  layer.accumulator = acc;
  if (auto it = bias_of_accumulator_.find(acc); it != bias_of_accumulator_.end()) layer.bias_initializer = it->second;
  layer.preactivation = preactivation;
  for (float s_w : wq.scales) layer.accumulator_scales.push_back(static_cast<double>(input.q.scale) * s_w);
  layer.channels_last = n.op_type != "Conv";
  layer.node = n.name.empty() ? n.outputs[0] : n.name;
  layer.op = n.op_type;
  layer.output = result;
  layer.weight_scale_min = *std::min_element(wq.scales.begin(), wq.scales.end());
  layer.weight_scale_max = *std::max_element(wq.scales.begin(), wq.scales.end());
  layer.weight_sqnr_db = wq.sqnr_db;
  layer.input_scale = input.q.scale;
  layer.input_zero_point = input.q.zero_point;
  if (auto out = quant_.find(result); out != quant_.end()) {
    layer.output_scale = out->second.q.scale;
    layer.output_zero_point = out->second.q.zero_point;
  } else {  // dequantized straight to a float graph output
    layer.float_output = true;
    layer.output_scale = 0;
    layer.output_zero_point = 0;
  }
  result_.layers.push_back(layer);
  ++result_.quantized_layers;
}

std::vector<double> IntegerGraphBuilder::corrected_bias(const Node& n, const Tensor& w, const Tensor* bias, const WeightQuant& wq,
                                                        bool conv, bool trans_b) {
  const int64_t channels = static_cast<int64_t>(wq.scales.size());
  std::vector<double> b;
  if (bias)
    for (int64_t c = 0; c < channels; ++c) b.push_back(bias->get_as_double(bias->numel() == 1 ? 0 : c));
  auto means_it = stats_.channel_stats.find(n.inputs[0]);
  if (!options_.bias_correction || means_it == stats_.channel_stats.end()) return b;
  const std::vector<double> mean = means_it->second.means();
  if (b.empty()) b.assign(static_cast<size_t>(channels), 0.0);
  const int8_t* q = wq.values.data<int8_t>();
  const float* wf = w.data<float>();
  if (conv) {  // w [M, C/g, taps...]; output m reads input channels of its group
    const int64_t per_out = w.numel() / channels, in_per_group = w.dim(1);
    const int64_t groups = static_cast<int64_t>(mean.size()) / in_per_group;
    if (groups <= 0 || channels % groups) return b;
    const int64_t taps = per_out / in_per_group;
    for (int64_t m = 0; m < channels; ++m) {
      const int64_t first_in = (m / (channels / groups)) * in_per_group;
      double shift = 0;
      for (int64_t ci = 0; ci < in_per_group; ++ci)
        for (int64_t t = 0; t < taps; ++t) {
          const int64_t i = m * per_out + ci * taps + t;
          shift += (q[i] * static_cast<double>(wq.scales[static_cast<size_t>(m)]) - wf[i]) * mean[static_cast<size_t>(first_in + ci)];
        }
      b[static_cast<size_t>(m)] -= shift;
    }
  } else {  // w [K, N], or [N, K] with transB; column j is output channel j
    const int64_t k = trans_b ? w.dim(1) : w.dim(0);
    if (static_cast<int64_t>(mean.size()) != k) return b;
    for (int64_t j = 0; j < channels; ++j) {
      double shift = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        const int64_t i = trans_b ? j * k + kk : kk * channels + j;
        shift += (q[i] * static_cast<double>(wq.scales[static_cast<size_t>(j)]) - wf[i]) * mean[static_cast<size_t>(kk)];
      }
      b[static_cast<size_t>(j)] -= shift;
    }
  }
  ++result_.bias_corrected;
  return b;
}

std::string IntegerGraphBuilder::add_bias(const Node& n, const std::string& acc, const std::vector<double>& bias, const QValue& input,
                                          const WeightQuant& wq, const Shape& shape) {
  const int64_t channels = static_cast<int64_t>(wq.scales.size());
  std::vector<int32_t> q(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const double v = std::nearbyint(bias[static_cast<size_t>(c)] / (static_cast<double>(input.q.scale) * wq.scales[static_cast<size_t>(c)]));
    q[static_cast<size_t>(c)] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
  }
  const std::string with_bias = fresh(n.outputs[0] + "_acc_bias");
  const std::string bias_name = add_const(n.outputs[0] + "_bias_quantized", Tensor::from_vector<int32_t>(q, shape));
  emit(make_node("Add", {acc, bias_name}, {with_bias}));
  bias_of_accumulator_[with_bias] = bias_name;
  return with_bias;
}

void IntegerGraphBuilder::requantize_per_channel(const std::string& acc, const std::vector<double>& in_times_weight_scales,
                                                 Shape constant_shape, const std::string& result, const ChannelStats& channels,
                                                 int32_t levels) {
  const FloatRange tensor = stats_.tensors.at(result).range(options_.method, options_.percentile);
  std::vector<ActivationQuant> quants;
  std::vector<double> real;
  std::vector<int64_t> zp;
  for (size_t c = 0; c < in_times_weight_scales.size(); ++c) {
    // The channel's own range, clipped where the tensor's calibrated range clips.
    FloatRange own{std::max(channels.mins[c], tensor.min), std::min(channels.maxs[c], tensor.max)};
    if (!(own.min <= own.max)) own = tensor;
    // A (nearly) constant channel: no finer than 1/256 of the tensor's step, so the multiplier
    // stays in range; its few values are still exact to well under one tensor step.
    const float min_width = (tensor.max - tensor.min) / 256.0f;
    if (own.max - own.min < min_width) own.max = own.min + min_width;
    const ActivationQuant q = uint8_quant(own, levels);
    real.push_back(in_times_weight_scales[c] / q.scale);
    zp.push_back(q.zero_point);
    quants.push_back(q);
  }
  const std::string name = dyadic_requant(acc, real, std::move(constant_shape), result, zp, 0, levels - 1, levels > 256);
  quant_[result] = {name, quants.front()};  // per_channel_ has the truth; tables read that
  per_channel_[result] = std::move(quants);
}

void IntegerGraphBuilder::finish_layer(const Node& n, const std::string& output, const std::string& acc, const QValue& input,
                                       const WeightQuant& wq, const Shape& shape) {
  float lo, hi;
  const std::string result = fold_activation(output, lo, hi);
  auto channels = stats_.channel_stats.find(result);
  const bool only_tables = result == output && feeds_only_tables(result);
  // Read by tables alone, the value never exists as uint8: it can index a wider table.
  const int32_t levels = only_tables ? int32_t{1} << std::clamp(options_.table_index_bits, 8, 16) : 256;
  if (options_.per_channel_preactivations && n.op_type == "Conv" && n.get_int("group", 1) > 1 && only_tables &&
      channels != stats_.channel_stats.end() && channels->second.mins.size() == wq.scales.size()) {
    std::vector<double> in_times_weight;
    for (float s_w : wq.scales) in_times_weight.push_back(static_cast<double>(input.q.scale) * s_w);
    requantize_per_channel(acc, in_times_weight, shape, result, channels->second, levels);
    record_layer(n, result, input, wq, acc, output);
    return;
  }
  if (is_final_float_output(result, output)) {
    // The model's result (a classifier's logits): one DequantizeLinear of the int32 accumulators
    // keeps their precision, where 256 levels could tie the two largest logits.
    std::vector<float> scales;
    for (float s_w : wq.scales) scales.push_back(input.q.scale * s_w);
    const int64_t channels = static_cast<int64_t>(scales.size());
    const int64_t axis = n.op_type == "Conv" ? 1 : -1;
    used_.insert(result);
    emit(make_node("DequantizeLinear", {acc, add_const(result + "_accumulator_scales", Tensor::from_vector<float>(scales, {channels}))},
                   {result}, {{"axis", int_attribute(axis)}}));
    available_.insert(result);
    record_layer(n, result, input, wq, acc, output);
    return;
  }
  const ActivationQuant q = quant_for(result, levels);
  std::vector<double> real;
  for (float s_w : wq.scales) real.push_back(static_cast<double>(input.q.scale) * s_w / q.scale);
  const auto [qmin, qmax] = clamp_bounds(q, lo, hi);
  quant_[result] = {dyadic_requant(acc, real, shape, result, {q.zero_point}, qmin, qmax, levels > 256), q};
  record_layer(n, result, input, wq, acc, output);
}

bool IntegerGraphBuilder::emit_conv(const Node& n) {
  const Tensor* w = n.has_input(1) ? constant(n.inputs[1]) : nullptr;
  const Tensor* b = n.has_input(2) ? constant(n.inputs[2]) : nullptr;
  if (!w || w->dtype() != DType::Float32 || (n.has_input(2) && !b)) return false;
  const QValue x = quantized(n.inputs[0]);
  const WeightQuant wq = quantize_weights_per_channel(*w, 0);
  const int64_t channels = w->dim(0);
  Node conv = make_node("ConvInteger",
                        {x.name, add_const(n.inputs[1] + "_quantized", wq.values), u8(n.inputs[0] + "_conv_zero_point", x.q.zero_point)},
                        {fresh(n.outputs[0] + "_acc")});
  for (const char* a : {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
    if (n.has(a)) conv.attrs[a] = n.attrs.at(a);
  std::string acc = conv.outputs[0];
  emit(std::move(conv));
  Shape per_channel(static_cast<size_t>(w->rank() - 1), 1);
  per_channel[0] = channels;
  if (const auto bias = corrected_bias(n, *w, b, wq, true, false); !bias.empty()) acc = add_bias(n, acc, bias, x, wq, per_channel);
  finish_layer(n, n.outputs[0], acc, x, wq, per_channel);
  return true;
}

const Node* IntegerGraphBuilder::bias_add_after(const std::string& value, int64_t columns, const Tensor** bias) const {
  const auto readers = g_.consumers(value);
  if (readers.size() != 1 || g_.is_graph_output(value)) return nullptr;
  const Node& add = g_.nodes[readers[0]];
  if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2) return nullptr;
  const std::string& other = add.inputs[0] == value ? add.inputs[1] : add.inputs[0];
  const Tensor* c = constant(other);
  if (!c || c->dtype() != DType::Float32 || c->numel() != columns || c->shape().back() != columns) return nullptr;
  *bias = c;
  return &add;
}

bool IntegerGraphBuilder::emit_matmul(const Node& n) {
  // Gemm (transA = 0, alpha = beta = 1) or MatMul, with a constant 2-D weight.
  const bool gemm = n.op_type == "Gemm";
  if (gemm && (n.get_int("transA", 0) != 0 || n.get_float("alpha", 1.0f) != 1.0f || n.get_float("beta", 1.0f) != 1.0f))
    return false;
  const Tensor* w = n.has_input(1) ? constant(n.inputs[1]) : nullptr;
  const Tensor* c = gemm && n.has_input(2) ? constant(n.inputs[2]) : nullptr;
  if (!w || w->dtype() != DType::Float32 || w->rank() != 2 || (gemm && n.has_input(2) && !c)) return false;
  const bool trans_b = gemm && n.get_int("transB", 0) != 0;
  const int64_t k = trans_b ? w->dim(1) : w->dim(0), cols = trans_b ? w->dim(0) : w->dim(1);
  if (c && c->numel() != cols && c->numel() != 1) return false;
  std::string output = n.outputs[0];
  if (!gemm) {
    if (const Node* add = bias_add_after(n.outputs[0], cols, &c)) {
      folded_.insert(add);
      output = add->outputs[0];
    }
  }
  const WeightQuant wq = quantize_weights_per_channel(*w, trans_b ? 0 : 1);
  Tensor b_q(DType::Int8, {k, cols});  // MatMulInteger's [K, N]
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < cols; ++j)
      b_q.data<int8_t>()[i * cols + j] = wq.values.data<int8_t>()[trans_b ? j * k + i : i * cols + j];
  const QValue a = quantized(n.inputs[0]);
  std::string acc = fresh(n.outputs[0] + "_acc");
  emit(make_node("MatMulInteger", {a.name, add_const(n.inputs[1] + "_quantized", b_q), u8(n.inputs[0] + "_matmul_zero_point", a.q.zero_point)},
                 {acc}));
  if (const auto bias = corrected_bias(n, *w, c, wq, false, trans_b); !bias.empty()) acc = add_bias(n, acc, bias, a, wq, {cols});
  finish_layer(n, output, acc, a, wq, {cols});
  return true;
}

void IntegerGraphBuilder::emit_float_island(const Node& n) {
  for (const auto& in : n.inputs)
    if (!in.empty()) ensure_float(in);
  for (const auto& out : n.outputs) {
    used_.insert(out);
    available_.insert(out);
  }
  emit(n);
  result_.float_islands.push_back(n.op_type + " '" + (n.name.empty() ? n.outputs[0] : n.name) + "'");
}

IntegerEmitResult IntegerGraphBuilder::build() {
  if (src_.opset("") != 17)
    fail("the integer emitter expects an opset-17 graph (this one imports opset {}); compress upgrades models first", src_.opset(""));
  out_.ir_version = 8;
  out_.opset_imports = {{"", 17}};
  out_.producer_name = "dyad";
  out_.graph.name = g_.name;
  out_.graph.inputs = g_.inputs;
  out_.graph.outputs = g_.outputs;
  const bool integer = options_.format == QuantFormat::IntegerOnly;
  for (const auto& in : g_.inputs) {
    used_.insert(in.name);
    available_.insert(in.name);
  }
  for (const auto& keep : options_.keep_float)
    if (std::none_of(g_.nodes.begin(), g_.nodes.end(), [&](const Node& n) { return n.op_type == keep || n.name == keep; }))
      fail("--keep-float {}: no node or op type of that name in the model (see compress inspect --nodes)", keep);
  const std::vector<size_t> order = g_.topological_order();
  for (size_t i : order) {
    const Node& n = g_.nodes[i];
    if (folded_.count(&n)) continue;
    if (!n.domain.empty() || options_.keep_float.count(n.op_type) || (!n.name.empty() && options_.keep_float.count(n.name))) {
      emit_float_island(n);
      continue;
    }
    if (is_metadata(n)) {
      emit_metadata(n);
      continue;
    }
    bool done = false;
    if (!integer) {
      done = emit_qdq(n) || emit_same_scale(n);
    } else if (n.op_type == "Conv") {
      done = emit_conv(n);
    } else if (n.op_type == "Gemm" || n.op_type == "MatMul") {
      done = emit_matmul(n) || (n.op_type == "MatMul" && emit_matmul_activations(n));
    } else if (n.op_type == "Softmax") {
      done = emit_softmax(n);
    } else if (n.op_type == "LayerNormalization") {
      done = emit_layer_norm(n);
    } else if (n.op_type == "GlobalAveragePool") {
      done = emit_global_average_pool(n);
    } else if (n.op_type == "AveragePool") {
      done = emit_average_pool(n);
    } else if (n.op_type == "ReduceMean") {
      done = emit_reduce_mean(n);
    } else if (n.op_type == "Concat") {
      done = emit_concat(n);
    } else {
      done = defer_elementwise(n, i) || emit_add(n) || emit_mul(n) || emit_same_scale(n);
    }
    if (!done) emit_float_island(n);
  }
  for (const auto& out : g_.outputs) ensure_float(out.name);
  for (const auto& [float_name, v] : quant_) {
    if (constant(float_name)) continue;
    QuantizedTensor t{float_name, v.name, v.q.scale, v.q.zero_point, {}, {}};
    if (auto pc = per_channel_.find(float_name); pc != per_channel_.end())
      for (const ActivationQuant& q : pc->second) {
        t.channel_scales.push_back(q.scale);
        t.channel_zero_points.push_back(q.zero_point);
      }
    result_.tensors.push_back(std::move(t));
  }
  if (result_.quantized_layers == 0) fail("the model has no quantizable layer (Conv, Gemm or MatMul with constant weights)");
  if (functions_.count("IntegerLayerNorm")) functions_.insert("IntegerSqrt");
  for (Function& f : dyad_functions())
    if (functions_.count(f.name)) out_.functions.push_back(std::move(f));
  if (!out_.functions.empty()) out_.opset_imports.push_back({kDyadDomain, 1});
  result_.model = std::move(out_);
  return std::move(result_);
}

}  // namespace integer_emit

IntegerEmitResult emit_integer_onnx(const Model& model, const CalibrationStats& stats, const IntegerEmitOptions& options) {
  return integer_emit::IntegerGraphBuilder(model, stats, options).build();
}

}  // namespace dyad
