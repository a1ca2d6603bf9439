#include "lib/quant/integer_onnx.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "lib/quant/dyadic.h"
#include "lib/quant/quant_params.h"

namespace dyad {

namespace {

constexpr const char* kDomain = "ai.dyad";

Attribute int_attr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  return a;
}

Attribute ints_attr(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::Ints;
  a.ints = std::move(v);
  return a;
}

Node op(std::string type, std::vector<std::string> in, std::vector<std::string> out, std::map<std::string, Attribute> attrs = {}) {
  return Node{"", std::move(type), "", std::move(in), std::move(out), std::move(attrs)};
}

// The rescale tail shared by both functions: t = p + H, exact floor((p + H) / D) via Mod/Sub/Div,
// plus the zero point, clamp through Less/Greater/Where (int64 Clip is wrong in ORT 1.30),
// and a Cast to uint8 of an in-range value.
void add_rescale_tail(std::vector<Node>& body) {
  body.push_back(op("Add", {"p", "H"}, {"t"}));
  body.push_back(op("Mod", {"t", "D"}, {"r0"}, {{"fmod", int_attr(0)}}));
  body.push_back(op("Sub", {"t", "r0"}, {"t0"}));
  body.push_back(op("Div", {"t0", "D"}, {"r"}));
  body.push_back(op("Add", {"r", "ZP"}, {"z"}));
  body.push_back(op("Less", {"z", "QMIN"}, {"below"}));
  body.push_back(op("Where", {"below", "QMIN", "z"}, {"z1"}));
  body.push_back(op("Greater", {"z1", "QMAX"}, {"above"}));
  body.push_back(op("Where", {"above", "QMAX", "z1"}, {"z2"}));
  body.push_back(op("Cast", {"z2"}, {"y"}, {{"to", int_attr(static_cast<int64_t>(DType::UInt8))}}));
}

// y = clamp(floor((acc * M + H) / D) + ZP, QMIN, QMAX) as uint8; D = 2^s, H = 2^(s-1) or 0.
Function dyadic_requant_function() {
  Function f;
  f.name = "DyadicRequant";
  f.domain = kDomain;
  f.inputs = {"acc", "M", "D", "H", "ZP", "QMIN", "QMAX"};
  f.outputs = {"y"};
  f.opset_imports = {{"", 17}};
  f.nodes.push_back(op("Cast", {"acc"}, {"a"}, {{"to", int_attr(static_cast<int64_t>(DType::Int64))}}));
  f.nodes.push_back(op("Mul", {"a", "M"}, {"p"}));
  add_rescale_tail(f.nodes);
  return f;
}

// y = clamp(floor(((a - ZA) * MA + (b - ZB) * MB + H) / D) + ZP, QMIN, QMAX) as uint8.
Function dyadic_add_function() {
  Function f;
  f.name = "DyadicAdd";
  f.domain = kDomain;
  f.inputs = {"a", "b", "ZA", "MA", "ZB", "MB", "D", "H", "ZP", "QMIN", "QMAX"};
  f.outputs = {"y"};
  f.opset_imports = {{"", 17}};
  const Attribute to64 = int_attr(static_cast<int64_t>(DType::Int64));
  f.nodes.push_back(op("Cast", {"a"}, {"a64"}, {{"to", to64}}));
  f.nodes.push_back(op("Sub", {"a64", "ZA"}, {"da"}));
  f.nodes.push_back(op("Mul", {"da", "MA"}, {"pa"}));
  f.nodes.push_back(op("Cast", {"b"}, {"b64"}, {{"to", to64}}));
  f.nodes.push_back(op("Sub", {"b64", "ZB"}, {"db"}));
  f.nodes.push_back(op("Mul", {"db", "MB"}, {"pb"}));
  f.nodes.push_back(op("Add", {"pa", "pb"}, {"p"}));
  add_rescale_tail(f.nodes);
  return f;
}

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

  std::string fresh(const std::string& base);
  std::string add_const(const std::string& base, Tensor t);
  std::string i64(const std::string& base, int64_t v) { return add_const(base, Tensor::scalar<int64_t>(v)); }
  // QuantizeLinear or DequantizeLinear with q's scale and uint8 zero point as constants named
  // after `base`.
  void emit_qdq_node(const char* op_type, const std::string& input, const std::string& output, const std::string& base,
                     ActivationQuant q);
  void emit(Node n) { out_.graph.nodes.push_back(std::move(n)); }
  const Tensor* constant(const std::string& name) const;
  void use_original_initializer(const std::string& name);
  ActivationQuant quant_for(const std::string& float_name) const;
  QValue quantized(const std::string& float_name);
  void ensure_float(const std::string& float_name);
  // Where a Relu or constant Clip alone reads `value`: the tensor to take the range from and the
  // extra clamp, and marks that node as folded.
  std::string fold_activation(const std::string& value, float& lo, float& hi);
  void requantize(const std::string& acc, const std::vector<double>& real, Shape constant_shape, const std::string& result,
                  float lo, float hi);
  void record_layer(const Node& n, const std::string& result, const QValue& input, const WeightQuant& wq);
  // Adds the int32 bias round(b / (s_x * s_w[c])) to the accumulator, shaped `shape`; returns
  // the new accumulator's name.
  std::string add_bias(const Node& n, const std::string& acc, const Tensor& bias, const QValue& input, const WeightQuant& wq,
                       const Shape& shape);
  // Requantizes a layer's accumulator (folding a following activation) and records the layer.
  void finish_layer(const Node& n, const std::string& acc, const QValue& input, const WeightQuant& wq, const Shape& shape);
  bool emit_conv(const Node& n);
  bool emit_matmul(const Node& n);
  bool emit_add(const Node& n);
  bool emit_global_average_pool(const Node& n);
  bool emit_average_pool(const Node& n);
  bool emit_same_scale(const Node& n);
  bool emit_qdq(const Node& n);
  std::string dequantized(const std::string& float_name);
  void emit_float_island(const Node& n);

  const Model& src_;
  const Graph& g_;
  const CalibrationStats& stats_;
  const IntegerEmitOptions& options_;
  Model out_;
  IntegerEmitResult result_;
  std::map<std::string, QValue> quant_;   // float name -> its uint8 version
  std::set<std::string> float_ready_;     // float names that exist in the output graph
  std::set<std::string> used_;
  std::set<const Node*> folded_;          // activations folded into their producer
  int counter_ = 0;
};

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

const Tensor* IntegerGraphBuilder::constant(const std::string& name) const {
  auto it = g_.initializers.find(name);
  return it == g_.initializers.end() ? nullptr : &it->second;
}

void IntegerGraphBuilder::use_original_initializer(const std::string& name) {
  if (const Tensor* t = constant(name)) out_.graph.initializers[name] = *t;
}

ActivationQuant IntegerGraphBuilder::quant_for(const std::string& float_name) const {
  auto it = stats_.tensors.find(float_name);
  if (it == stats_.tensors.end()) fail("no calibration statistics for tensor '{}'", float_name);
  return uint8_quant(it->second.range(options_.method, options_.percentile));
}

void IntegerGraphBuilder::emit_qdq_node(const char* op_type, const std::string& input, const std::string& output,
                                        const std::string& base, ActivationQuant q) {
  emit(op(op_type,
          {input, add_const(base + "_scale", Tensor::scalar<float>(q.scale)),
           add_const(base + "_zero_point", Tensor::scalar<uint8_t>(static_cast<uint8_t>(q.zero_point)))},
          {output}));
}

IntegerGraphBuilder::QValue IntegerGraphBuilder::quantized(const std::string& float_name) {
  if (auto it = quant_.find(float_name); it != quant_.end()) return it->second;
  ensure_float(float_name);
  const ActivationQuant q = quant_for(float_name);
  const std::string name = fresh(float_name + "_q");
  emit_qdq_node("QuantizeLinear", float_name, name, float_name, q);
  return quant_[float_name] = {name, q};
}

void IntegerGraphBuilder::ensure_float(const std::string& float_name) {
  if (float_ready_.count(float_name)) return;
  if (constant(float_name)) {
    use_original_initializer(float_name);
    float_ready_.insert(float_name);
    return;
  }
  auto it = quant_.find(float_name);
  if (it == quant_.end()) fail("tensor '{}' has no value in the integer graph", float_name);
  // Back to float under the original name (free: the quantized value has its own name).
  used_.insert(float_name);
  emit_qdq_node("DequantizeLinear", it->second.name, float_name, float_name, it->second.q);
  float_ready_.insert(float_name);
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
    if (src_.opset("") < 11) {
      lo = act.get_float("min", lo);
      hi = act.get_float("max", hi);
    } else {
      const Tensor* min_t = act.has_input(1) ? constant(act.inputs[1]) : nullptr;
      const Tensor* max_t = act.has_input(2) ? constant(act.inputs[2]) : nullptr;
      if ((act.has_input(1) && !min_t) || (act.has_input(2) && !max_t)) return value;
      if (min_t) lo = static_cast<float>(min_t->get_as_double(0));
      if (max_t) hi = static_cast<float>(max_t->get_as_double(0));
    }
  } else {
    return value;
  }
  folded_.insert(&act);
  return act.outputs[0];
}

void IntegerGraphBuilder::requantize(const std::string& acc, const std::vector<double>& real, Shape constant_shape,
                                     const std::string& result, float lo, float hi) {
  const ActivationQuant q = quant_for(result);
  std::vector<int64_t> m, d, h;
  for (double r : real) {
    if (!dyadic_multiplier_valid(r)) fail("tensor '{}': requantization multiplier {} is out of range", result, r);
    const DyadicMultiplier dm = dyadic_from_real(r);
    m.push_back(dm.m);
    d.push_back(int64_t{1} << dm.s);
    h.push_back(dm.s > 0 ? int64_t{1} << (dm.s - 1) : 0);
  }
  if (real.size() == 1) constant_shape.clear();
  // The folded activation's bounds, in the output's integer domain.
  const int32_t qmin = std::isfinite(lo) ? std::max(0, q.quantize(lo)) : 0;
  const int32_t qmax = std::isfinite(hi) ? std::min(255, q.quantize(hi)) : 255;
  const std::string name = fresh(result + "_q");
  Node call = op("DyadicRequant",
                 {acc, add_const(result + "_M", Tensor::from_vector<int64_t>(m, constant_shape)),
                  add_const(result + "_D", Tensor::from_vector<int64_t>(d, constant_shape)),
                  add_const(result + "_H", Tensor::from_vector<int64_t>(h, constant_shape)), i64(result + "_ZP", q.zero_point),
                  i64(result + "_QMIN", qmin), i64(result + "_QMAX", qmax)},
                 {name});
  call.domain = kDomain;
  emit(std::move(call));
  quant_[result] = {name, q};
}

void IntegerGraphBuilder::record_layer(const Node& n, const std::string& result, const QValue& input, const WeightQuant& wq) {
  QuantizedLayer layer;
  layer.node = n.name.empty() ? n.outputs[0] : n.name;
  layer.op = n.op_type;
  layer.output = result;
  layer.weight_scale_min = *std::min_element(wq.scales.begin(), wq.scales.end());
  layer.weight_scale_max = *std::max_element(wq.scales.begin(), wq.scales.end());
  layer.input_scale = input.q.scale;
  layer.input_zero_point = input.q.zero_point;
  const QValue& out = quant_.at(result);
  layer.output_scale = out.q.scale;
  layer.output_zero_point = out.q.zero_point;
  result_.layers.push_back(layer);
  ++result_.quantized_layers;
}

std::string IntegerGraphBuilder::add_bias(const Node& n, const std::string& acc, const Tensor& bias, const QValue& input,
                                          const WeightQuant& wq, const Shape& shape) {
  const int64_t channels = static_cast<int64_t>(wq.scales.size());
  std::vector<int32_t> q(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const double v = std::nearbyint(bias.get_as_double(bias.numel() == 1 ? 0 : c) /
                                    (static_cast<double>(input.q.scale) * wq.scales[static_cast<size_t>(c)]));
    q[static_cast<size_t>(c)] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
  }
  const std::string with_bias = fresh(n.outputs[0] + "_acc_bias");
  emit(op("Add", {acc, add_const(n.inputs[2] + "_quantized", Tensor::from_vector<int32_t>(q, shape))}, {with_bias}));
  return with_bias;
}

void IntegerGraphBuilder::finish_layer(const Node& n, const std::string& acc, const QValue& input, const WeightQuant& wq,
                                       const Shape& shape) {
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  const double s_y = quant_for(result).scale;
  std::vector<double> real;
  for (float s_w : wq.scales) real.push_back(static_cast<double>(input.q.scale) * s_w / s_y);
  requantize(acc, real, shape, result, lo, hi);
  record_layer(n, result, input, wq);
}

bool IntegerGraphBuilder::emit_conv(const Node& n) {
  const Tensor* w = n.has_input(1) ? constant(n.inputs[1]) : nullptr;
  const Tensor* b = n.has_input(2) ? constant(n.inputs[2]) : nullptr;
  if (!w || w->dtype() != DType::Float32 || (n.has_input(2) && !b)) return false;
  const QValue x = quantized(n.inputs[0]);
  const WeightQuant wq = quantize_weights_per_channel(*w, 0);
  const int64_t channels = w->dim(0);
  Node conv = op("ConvInteger",
                 {x.name, add_const(n.inputs[1] + "_quantized", wq.values),
                  add_const(n.inputs[0] + "_conv_zero_point", Tensor::scalar<uint8_t>(static_cast<uint8_t>(x.q.zero_point)))},
                 {fresh(n.outputs[0] + "_acc")});
  for (const char* a : {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
    if (n.has(a)) conv.attrs[a] = n.attrs.at(a);
  std::string acc = conv.outputs[0];
  emit(std::move(conv));
  Shape per_channel(static_cast<size_t>(w->rank() - 1), 1);
  per_channel[0] = channels;
  if (b) acc = add_bias(n, acc, *b, x, wq, per_channel);
  finish_layer(n, acc, x, wq, per_channel);
  return true;
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
  const WeightQuant wq = quantize_weights_per_channel(*w, trans_b ? 0 : 1);
  const int64_t k = trans_b ? w->dim(1) : w->dim(0), cols = trans_b ? w->dim(0) : w->dim(1);
  if (c && c->numel() != cols && c->numel() != 1) return false;
  Tensor b_q(DType::Int8, {k, cols});  // MatMulInteger's [K, N]
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < cols; ++j)
      b_q.data<int8_t>()[i * cols + j] = wq.values.data<int8_t>()[trans_b ? j * k + i : i * cols + j];
  const QValue a = quantized(n.inputs[0]);
  std::string acc = fresh(n.outputs[0] + "_acc");
  emit(op("MatMulInteger",
          {a.name, add_const(n.inputs[1] + "_quantized", b_q),
           add_const(n.inputs[0] + "_matmul_zero_point", Tensor::scalar<uint8_t>(static_cast<uint8_t>(a.q.zero_point)))},
          {acc}));
  if (c) acc = add_bias(n, acc, *c, a, wq, {cols});
  finish_layer(n, acc, a, wq, {cols});
  return true;
}

bool IntegerGraphBuilder::emit_add(const Node& n) {
  if (n.inputs.size() != 2 || constant(n.inputs[0]) || constant(n.inputs[1])) return false;
  const QValue a = quantized(n.inputs[0]), b = quantized(n.inputs[1]);
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  const ActivationQuant q = quant_for(result);
  const DyadicAddMultipliers d =
      dyadic_add_from_real(static_cast<double>(a.q.scale) / q.scale, static_cast<double>(b.q.scale) / q.scale);
  const int32_t qmin = std::isfinite(lo) ? std::max(0, q.quantize(lo)) : 0;
  const int32_t qmax = std::isfinite(hi) ? std::min(255, q.quantize(hi)) : 255;
  const std::string name = fresh(result + "_q");
  Node call = op("DyadicAdd",
                 {a.name, b.name, i64(result + "_ZA", a.q.zero_point), i64(result + "_MA", d.ma), i64(result + "_ZB", b.q.zero_point),
                  i64(result + "_MB", d.mb), i64(result + "_D", int64_t{1} << d.s),
                  i64(result + "_H", d.s > 0 ? int64_t{1} << (d.s - 1) : 0), i64(result + "_ZP", q.zero_point),
                  i64(result + "_QMIN", qmin), i64(result + "_QMAX", qmax)},
                 {name});
  call.domain = kDomain;
  emit(std::move(call));
  quant_[result] = {name, q};
  return true;
}

// The shape of a value from shape inference with the batch (first) dimension set to 0, or
// empty if any other dimension is unknown: pooling needs channels and spatial sizes only.
Shape shape_without_batch(const Graph& g, const std::string& name) {
  const ValueInfo* vi = g.find_value_info(name);
  if (!vi || !vi->has_shape || vi->dims.empty()) return {};
  Shape s{0};
  for (size_t d = 1; d < vi->dims.size(); ++d) {
    if (!vi->dims[d].known()) return {};
    s.push_back(vi->dims[d].value);
  }
  return s;
}

bool IntegerGraphBuilder::emit_global_average_pool(const Node& n) {
  const Shape s = shape_without_batch(g_, n.inputs[0]);
  if (s.size() < 3) return false;
  int64_t window = 1;
  std::vector<int64_t> axes;
  for (size_t d = 2; d < s.size(); ++d) window *= s[d], axes.push_back(static_cast<int64_t>(d));
  const QValue x = quantized(n.inputs[0]);
  const std::string wide = fresh(n.outputs[0] + "_i32"), sum = fresh(n.outputs[0] + "_sum"), acc = fresh(n.outputs[0] + "_acc");
  emit(op("Cast", {x.name}, {wide}, {{"to", int_attr(static_cast<int64_t>(DType::Int32))}}));
  emit(op("ReduceSum", {wide, add_const(n.outputs[0] + "_axes", Tensor::from_vector<int64_t>(axes, {static_cast<int64_t>(axes.size())}))},
          {sum}, {{"keepdims", int_attr(1)}}));
  // sum (x - z) = sum x - window * z
  emit(op("Sub", {sum, add_const(n.outputs[0] + "_zero_sum", Tensor::scalar<int32_t>(static_cast<int32_t>(window * x.q.zero_point)))}, {acc}));
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  requantize(acc, {static_cast<double>(x.q.scale) / (quant_for(result).scale * static_cast<double>(window))}, {}, result, lo, hi);
  return true;
}

bool IntegerGraphBuilder::emit_average_pool(const Node& n) {
  // Unpadded 2-D average pooling: a depthwise ConvInteger of ones sums each window.
  const Shape s = shape_without_batch(g_, n.inputs[0]);
  const auto kernel = n.get_ints("kernel_shape");
  const auto pads = n.get_ints("pads", {0, 0, 0, 0});
  if (s.size() != 4 || kernel.size() != 2 || n.get_int("ceil_mode", 0) != 0 || n.get_string("auto_pad", "NOTSET") != "NOTSET" ||
      std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; }) || n.outputs.size() != 1)
    return false;
  const QValue x = quantized(n.inputs[0]);
  Tensor ones(DType::Int8, {s[1], 1, kernel[0], kernel[1]});
  std::fill(ones.data<int8_t>(), ones.data<int8_t>() + ones.numel(), int8_t{1});
  Node conv = op("ConvInteger",
                 {x.name, add_const(n.outputs[0] + "_ones", ones),
                  add_const(n.inputs[0] + "_pool_zero_point", Tensor::scalar<uint8_t>(static_cast<uint8_t>(x.q.zero_point)))},
                 {fresh(n.outputs[0] + "_acc")}, {{"group", int_attr(s[1])}, {"kernel_shape", ints_attr(kernel)}});
  if (n.has("strides")) conv.attrs["strides"] = n.attrs.at("strides");
  const std::string acc = conv.outputs[0];
  emit(std::move(conv));
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  requantize(acc, {static_cast<double>(x.q.scale) / (quant_for(result).scale * static_cast<double>(kernel[0] * kernel[1]))}, {},
             result, lo, hi);
  return true;
}

bool IntegerGraphBuilder::emit_same_scale(const Node& n) {
  // Ops that move or select uint8 values without changing their scale.
  static const std::set<std::string> moves = {"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity"};
  const bool relu = n.op_type == "Relu", clip = n.op_type == "Clip", pad = n.op_type == "Pad";
  if ((!moves.count(n.op_type) && !relu && !clip && !pad) || n.outputs.size() != 1 || constant(n.inputs[0])) return false;
  if (pad && (src_.opset("") < 11 || (n.has_input(1) && !constant(n.inputs[1])) || (n.has_input(2) && !constant(n.inputs[2])) ||
              n.has_input(3)))
    return false;
  if (clip && ((n.has_input(1) && !constant(n.inputs[1])) || (n.has_input(2) && !constant(n.inputs[2])))) return false;
  const QValue x = quantized(n.inputs[0]);
  const std::string name = fresh(n.outputs[0] + "_q");
  if (relu) {  // max(x, z): real 0 is the zero point
    emit(op("Max", {x.name, add_const(n.outputs[0] + "_zero", Tensor::scalar<uint8_t>(static_cast<uint8_t>(x.q.zero_point)))}, {name}));
  } else if (clip) {
    const float lo = src_.opset("") < 11 ? n.get_float("min", -INFINITY)
                                         : (n.has_input(1) ? static_cast<float>(constant(n.inputs[1])->get_as_double(0)) : -INFINITY);
    const float hi = src_.opset("") < 11 ? n.get_float("max", INFINITY)
                                         : (n.has_input(2) ? static_cast<float>(constant(n.inputs[2])->get_as_double(0)) : INFINITY);
    const auto bound = [&](float v, int32_t fallback) {
      return static_cast<uint8_t>(std::isfinite(v) ? x.q.quantize(v) : fallback);
    };
    emit(op("Clip", {x.name, add_const(n.outputs[0] + "_qmin", Tensor::scalar<uint8_t>(bound(lo, 0))),
                     add_const(n.outputs[0] + "_qmax", Tensor::scalar<uint8_t>(bound(hi, 255)))},
            {name}));
  } else if (pad) {  // the padding value, quantized (real 0 pads with the zero point)
    const float value = n.has_input(2) ? static_cast<float>(constant(n.inputs[2])->get_as_double(0)) : 0.0f;
    use_original_initializer(n.inputs[1]);
    Node copy = n;
    copy.inputs = {x.name, n.inputs[1], add_const(n.outputs[0] + "_pad_value", Tensor::scalar<uint8_t>(static_cast<uint8_t>(x.q.quantize(value))))};
    copy.outputs = {name};
    emit(std::move(copy));
  } else {
    Node copy = n;
    copy.inputs[0] = x.name;
    copy.outputs[0] = name;
    for (size_t i = 1; i < copy.inputs.size(); ++i)
      if (!copy.inputs[i].empty()) use_original_initializer(copy.inputs[i]);
    emit(std::move(copy));
  }
  quant_[n.outputs[0]] = {name, x.q};
  return true;
}

void IntegerGraphBuilder::emit_float_island(const Node& n) {
  for (const auto& in : n.inputs)
    if (!in.empty()) ensure_float(in);
  for (const auto& out : n.outputs) {
    used_.insert(out);
    float_ready_.insert(out);
  }
  emit(n);
  result_.float_islands.push_back(n.op_type + " '" + (n.name.empty() ? n.outputs[0] : n.name) + "'");
}

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
    Node dq = op("DequantizeLinear",
                 {add_const(n.inputs[1] + "_quantized", wq.values),
                  add_const(n.inputs[1] + "_scales", Tensor::from_vector<float>(wq.scales, {channels}))},
                 {fresh(n.inputs[1] + "_dq")}, {{"axis", int_attr(axis)}});
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
      Node bias = op("DequantizeLinear",
                     {add_const(n.inputs[2] + "_quantized", Tensor::from_vector<int32_t>(q, {channels})),
                      add_const(n.inputs[2] + "_scales", Tensor::from_vector<float>(scales, {channels}))},
                     {fresh(n.inputs[2] + "_dq")}, {{"axis", int_attr(0)}});
      copy.inputs[2] = bias.outputs[0];
      emit(std::move(bias));
    }
  } else if (n.op_type == "Add") {
    copy.inputs[1] = dequantized(n.inputs[1]);
  }
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
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
  if (w) record_layer(n, result, input, wq);
  return true;
}

IntegerEmitResult IntegerGraphBuilder::build() {
  out_.ir_version = 8;
  out_.opset_imports = {{"", 17}, {kDomain, 1}};
  out_.producer_name = "dyad";
  out_.graph.name = g_.name;
  out_.graph.inputs = g_.inputs;
  out_.graph.outputs = g_.outputs;
  if (options_.format == QuantFormat::IntegerOnly) out_.functions = {dyadic_requant_function(), dyadic_add_function()};
  else out_.opset_imports.pop_back();  // no ai.dyad functions in QDQ form
  if (src_.opset("") > 17) fail("models above opset 17 are not supported yet (this one imports opset {})", src_.opset(""));
  for (const auto& in : g_.inputs) {
    used_.insert(in.name);
    float_ready_.insert(in.name);
  }
  for (size_t i : g_.topological_order()) {
    const Node& n = g_.nodes[i];
    if (folded_.count(&n)) continue;
    bool done = false;
    if (n.domain.empty() && options_.format == QuantFormat::Qdq) done = emit_qdq(n);
    if (done) continue;
    if (n.domain.empty()) {
      if (n.op_type == "Conv") done = emit_conv(n);
      else if (n.op_type == "Gemm" || n.op_type == "MatMul") done = emit_matmul(n);
      else if (n.op_type == "Add") done = emit_add(n);
      else if (n.op_type == "GlobalAveragePool") done = emit_global_average_pool(n);
      else if (n.op_type == "AveragePool") done = emit_average_pool(n);
      else done = emit_same_scale(n);
    }
    if (!done) emit_float_island(n);
  }
  for (const auto& out : g_.outputs) ensure_float(out.name);
  for (const auto& [float_name, v] : quant_) result_.tensors.push_back({float_name, v.name, v.q.scale, v.q.zero_point});
  if (result_.quantized_layers == 0) fail("the model has no quantizable layer (Conv, Gemm or MatMul with constant weights)");
  result_.model = std::move(out_);
  return std::move(result_);
}

}  // namespace

IntegerEmitResult emit_integer_onnx(const Model& model, const CalibrationStats& stats, const IntegerEmitOptions& options) {
  return IntegerGraphBuilder(model, stats, options).build();
}

}  // namespace dyad
