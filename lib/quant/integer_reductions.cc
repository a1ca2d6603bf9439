// Pooling, ReduceMean, Softmax, LayerNormalization and MatMul of two activations in the integer
// emitter.
#include <algorithm>
#include <cmath>

#include "lib/quant/dyadic.h"
#include "lib/quant/integer_graph_builder.h"

namespace dyad::integer_emit {

namespace {

// Output quantization of the integer Softmax: probabilities in [0, 1] as k / 255.
// Fixed-point precision of the Softmax exp table: exp(-d s_x) * 2^20.
constexpr int kExpTableBits = 20;

}  // namespace

bool IntegerGraphBuilder::emit_mean(const Node& n, const std::vector<int64_t>& axes, bool keepdims) {
  // y = round(s_x / s_y * sum(x - z) / count): the count comes from the input's shape at run
  // time (widths are often dynamic), so it joins the divisor: DyadicRequant with
  // D = 2^s * count and H = D / 2.
  const int64_t rank = known_rank(n.inputs[0]);
  if (rank < 0 || axes.empty() || n.outputs.size() != 1) return false;
  std::vector<int64_t> normalized;
  for (int64_t a : axes) {
    const int64_t axis = a < 0 ? a + rank : a;
    if (axis <= 0 || axis >= rank) return false;  // never across the batch
    normalized.push_back(axis);
  }
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  const ActivationQuant q = quant_for(result);
  const QValue x = quantized(n.inputs[0]);
  const double real = static_cast<double>(x.q.scale) / q.scale;
  if (!dyadic_multiplier_valid(real)) return false;
  DyadicMultiplier dm = dyadic_from_real(real);
  // Keep 2^s * count inside int64 for counts up to 2^21.
  constexpr int kMaxShift = 40;
  if (dm.s > kMaxShift) dm = {static_cast<int32_t>(dm.m >> (dm.s - kMaxShift)), kMaxShift};
  const std::string base = n.outputs[0];
  const std::string wide = fresh(base + "_i64"), sum = fresh(base + "_sum"), shape = fresh(base + "_shape"),
                    dims = fresh(base + "_dims"), count = fresh(base + "_count"), zero_sum = fresh(base + "_zero_sum"),
                    acc = fresh(base + "_acc"), divisor = fresh(base + "_divisor"), half = fresh(base + "_half");
  const std::string axes_const = add_const(base + "_axes", Tensor::from_vector<int64_t>(normalized, {static_cast<int64_t>(normalized.size())}));
  emit(make_node("Cast", {x.name}, {wide}, {{"to", int_attribute(static_cast<int64_t>(DType::Int64))}}));
  emit(make_node("ReduceSum", {wide, axes_const}, {sum}, {{"keepdims", int_attribute(keepdims ? 1 : 0)}}));
  emit(make_node("Shape", {x.name}, {shape}));
  emit(make_node("Gather", {shape, axes_const}, {dims}, {{"axis", int_attribute(0)}}));
  emit(make_node("ReduceProd", {dims}, {count}, {{"keepdims", int_attribute(0)}}));
  // sum (x - z) = sum x - count * z
  emit(make_node("Mul", {count, i64(base + "_zp", x.q.zero_point)}, {zero_sum}));
  emit(make_node("Sub", {sum, zero_sum}, {acc}));
  emit(make_node("Mul", {count, i64(base + "_D", int64_t{1} << dm.s)}, {divisor}));
  emit(make_node("Div", {divisor, i64(base + "_two", 2)}, {half}));
  const auto [qmin, qmax] = clamp_bounds(q, lo, hi);
  const std::string name = fresh(result + "_q");
  call("DyadicRequant", {acc, i64(base + "_M", dm.m), divisor, half, i64(base + "_ZP", q.zero_point), i64(base + "_QMIN", qmin), i64(base + "_QMAX", qmax)},
       name);
  quant_[result] = {name, q};
  return true;
}

bool IntegerGraphBuilder::emit_global_average_pool(const Node& n) {
  const int64_t rank = known_rank(n.inputs[0]);
  if (rank < 3) return false;
  std::vector<int64_t> axes;
  for (int64_t d = 2; d < rank; ++d) axes.push_back(d);
  return emit_mean(n, axes, true);
}

bool IntegerGraphBuilder::emit_reduce_mean(const Node& n) {
  if (!n.has("axes") || n.has_input(1)) return false;
  return emit_mean(n, n.get_ints("axes"), n.get_int("keepdims", 1) != 0);
}

bool IntegerGraphBuilder::emit_average_pool(const Node& n) {
  // Unpadded 2-D average pooling: a depthwise ConvInteger of ones sums each window.
  const int64_t channels = channel_count(n.inputs[0]);
  const auto kernel = n.get_ints("kernel_shape");
  const auto pads = n.get_ints("pads", {0, 0, 0, 0});
  if (channels <= 0 || known_rank(n.inputs[0]) != 4 || kernel.size() != 2 || n.get_int("ceil_mode", 0) != 0 || n.get_string("auto_pad", "NOTSET") != "NOTSET" ||
      std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; }) || n.outputs.size() != 1)
    return false;
  const QValue x = quantized(n.inputs[0]);
  Tensor ones(DType::Int8, {channels, 1, kernel[0], kernel[1]});
  std::fill(ones.data<int8_t>(), ones.data<int8_t>() + ones.numel(), int8_t{1});
  Node conv = make_node("ConvInteger", {x.name, add_const(n.outputs[0] + "_ones", ones), u8(n.inputs[0] + "_pool_zero_point", x.q.zero_point)},
                        {fresh(n.outputs[0] + "_acc")}, {{"group", int_attribute(channels)}, {"kernel_shape", ints_attribute(kernel)}});
  if (n.has("strides")) conv.attrs["strides"] = n.attrs.at("strides");
  const std::string acc = conv.outputs[0];
  emit(std::move(conv));
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  requantize(acc, {static_cast<double>(x.q.scale) / (quant_for(result).scale * static_cast<double>(kernel[0] * kernel[1]))}, {},
             result, lo, hi);
  return true;
}

bool IntegerGraphBuilder::emit_matmul_activations(const Node& n) {
  // Attention's Q K^T and P V: both operands uint8 with zero points, int32 accumulation.
  if (!is_activation(n.inputs[0]) || !is_activation(n.inputs[1])) return false;
  const QValue a = quantized(n.inputs[0]), b = quantized(n.inputs[1]);
  const std::string acc = fresh(n.outputs[0] + "_acc");
  emit(make_node("MatMulInteger", {a.name, b.name, u8(n.outputs[0] + "_a_zero_point", a.q.zero_point), u8(n.outputs[0] + "_b_zero_point", b.q.zero_point)},
                 {acc}));
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  requantize(acc, {static_cast<double>(a.q.scale) * b.q.scale / quant_for(result).scale}, {}, result, lo, hi);
  ++result_.activation_matmuls;
  return true;
}

bool IntegerGraphBuilder::emit_softmax(const Node& n) {
  // y = round(255 e / sum(e)) with e = EXP[max - x], EXP[d] = round(2^20 exp(-d s_x)): the
  // difference max - x is an exact integer in [0, 255], so the table covers every case.
  if (!is_last_axis(n.inputs[0], n.get_int("axis", -1))) return false;
  const QValue x = quantized(n.inputs[0]);
  std::vector<int64_t> exp_table(256);
  for (int d = 0; d < 256; ++d)
    exp_table[static_cast<size_t>(d)] = std::llround(std::ldexp(std::exp(-static_cast<double>(d) * x.q.scale), kExpTableBits));
  const std::string base = n.outputs[0];
  const std::string wide = fresh(base + "_i32"), top = fresh(base + "_max"), gap = fresh(base + "_gap"), e = fresh(base + "_exp"),
                    sum = fresh(base + "_sum"), half = fresh(base + "_half_sum"), scaled = fresh(base + "_scaled"),
                    num = fresh(base + "_num"), ratio = fresh(base + "_ratio"), name = fresh(base + "_q");
  const std::string two = i64(base + "_two", 2);
  emit(make_node("Cast", {x.name}, {wide}, {{"to", int_attribute(static_cast<int64_t>(DType::Int32))}}));
  emit(make_node("ReduceMax", {wide}, {top}, {{"axes", ints_attribute({-1})}, {"keepdims", int_attribute(1)}}));
  emit(make_node("Sub", {top, wide}, {gap}));
  emit(make_node("Gather", {add_const(base + "_exp_table", Tensor::from_vector<int64_t>(exp_table, {256})), gap}, {e},
                 {{"axis", int_attribute(0)}}));
  emit(make_node("ReduceSum", {e, add_const(base + "_axes", Tensor::from_vector<int64_t>({-1}, {1}))}, {sum},
                 {{"keepdims", int_attribute(1)}}));
  // The output step: 1/255 when probabilities reach 1, finer when calibration saw them stay
  // lower (attention spread over many positions): step = 256 / A with A = round(256 * 255 /
  // p_max), so y = round(e * A / (256 * sum)), clamped to 255.
  const float p_max = std::clamp(stats_.tensors.count(base) ? stats_.tensors.at(base).range(options_.method, options_.percentile).max : 1.0f,
                                 1.0f / 64.0f, 1.0f);
  const int64_t levels = std::llround(256.0 * 255.0 / p_max);
  const std::string sum_scaled = fresh(base + "_sum_256"), clamped = fresh(base + "_clamped");
  emit(make_node("Mul", {sum, i64(base + "_256", 256)}, {sum_scaled}));
  emit(make_node("Div", {sum_scaled, two}, {half}));
  emit(make_node("Mul", {e, i64(base + "_levels", levels)}, {scaled}));
  emit(make_node("Add", {scaled, half}, {num}));
  emit(make_node("Div", {num, sum_scaled}, {ratio}));  // both non-negative: floor
  emit(make_node("Min", {ratio, i64(base + "_top", 255)}, {clamped}));
  emit(make_node("Cast", {clamped}, {name}, {{"to", int_attribute(static_cast<int64_t>(DType::UInt8))}}));
  quant_[n.outputs[0]] = {name, {static_cast<float>(256.0 / static_cast<double>(levels)), 0}};
  return true;
}

bool IntegerGraphBuilder::emit_layer_norm(const Node& n) {
  if (!is_last_axis(n.inputs[0], n.get_int("axis", -1))) return false;
  for (size_t i = 1; i < n.outputs.size(); ++i)
    if (!n.outputs[i].empty() && !g_.consumers(n.outputs[i]).empty()) return false;  // mean / inverse std used
  const Tensor* gamma = n.has_input(1) ? constant(n.inputs[1]) : nullptr;
  const Tensor* beta = n.has_input(2) ? constant(n.inputs[2]) : nullptr;
  if (!gamma || gamma->dtype() != DType::Float32 || (n.has_input(2) && (!beta || beta->numel() != gamma->numel()))) return false;
  const int64_t count = gamma->numel();
  const QValue x = quantized(n.inputs[0]);
  float lo, hi;
  const std::string result = fold_activation(n.outputs[0], lo, hi);
  const ActivationQuant q = quant_for(result);
  const double sx = x.q.scale, sy = q.scale, eps = n.get_float("epsilon", 1e-5f), nn = static_cast<double>(count);
  // Integer units: u = N (c - mean), sum(u^2) = N^3 var / s_x^2, so eps becomes E.
  const double e = std::max(1.0, std::nearbyint(nn * nn * nn * eps / (sx * sx)));
  const double w_max = nn * (nn * 255) * (nn * 255) + e;
  if (w_max >= std::ldexp(1.0, 60)) return false;
  const int k = std::max(0, static_cast<int>(std::floor((61.0 - std::log2(w_max)) / 2)));  // (sum + E) 2^(2k) < 2^61
  const double r_max = std::sqrt(w_max) * std::ldexp(1.0, k);
  double g_max = 0, b_max = 0;
  for (int64_t i = 0; i < count; ++i) {
    g_max = std::max(g_max, std::abs(gamma->get_as_double(i)));
    if (beta) b_max = std::max(b_max, std::abs(beta->get_as_double(i)));
  }
  // The largest fixed-point precision P = 2^f that keeps every int64 term below 2^61.
  int f = 30;
  for (; f > 1; --f) {
    const double p = std::ldexp(1.0, f);
    const double mg = g_max * std::sqrt(nn) * std::ldexp(1.0, k) * p / sy, bb = b_max * p / sy;
    if (255 * nn * mg + (bb + p) * r_max < std::ldexp(1.0, 61) && r_max * p < std::ldexp(1.0, 61)) break;
  }
  const double p = std::ldexp(1.0, f);
  std::vector<int64_t> mg(static_cast<size_t>(count)), bb(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    mg[static_cast<size_t>(i)] = std::llround(gamma->get_as_double(i) * std::sqrt(nn) * std::ldexp(1.0, k) * p / sy);
    bb[static_cast<size_t>(i)] = beta ? std::llround(beta->get_as_double(i) * p / sy) : 0;
  }
  const auto [qmin, qmax] = clamp_bounds(q, lo, hi);
  const std::string base = result;
  const std::string name = fresh(base + "_q");
  call("IntegerLayerNorm",
       {x.name, i64(base + "_ZX", x.q.zero_point), i64(base + "_N", count), i64(base + "_E", static_cast<int64_t>(e)),
        i64(base + "_K2", int64_t{1} << (2 * k)), add_const(base + "_MG", Tensor::from_vector<int64_t>(mg, {count})),
        add_const(base + "_BB", Tensor::from_vector<int64_t>(bb, {count})), i64(base + "_P", int64_t{1} << f),
        i64(base + "_HP", int64_t{1} << (f - 1)), i64(base + "_ZP", q.zero_point), i64(base + "_QMIN", qmin), i64(base + "_QMAX", qmax)},
       name);
  quant_[result] = {name, q};
  return true;
}

}  // namespace dyad::integer_emit
