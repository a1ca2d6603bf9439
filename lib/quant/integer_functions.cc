#include "lib/quant/integer_functions.h"

#include <fmt/format.h>

#include "lib/ir/dtype.h"

namespace dyad {

Attribute int_attribute(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  return a;
}

Attribute ints_attribute(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::Ints;
  a.ints = std::move(v);
  return a;
}

Node make_node(std::string type, std::vector<std::string> in, std::vector<std::string> out, std::map<std::string, Attribute> attrs) {
  return Node{"", std::move(type), "", std::move(in), std::move(out), std::move(attrs)};
}

namespace {

Function function_shell(std::string name, std::vector<std::string> inputs) {
  Function f;
  f.name = std::move(name);
  f.domain = kDyadDomain;
  f.inputs = std::move(inputs);
  f.outputs = {"y"};
  f.opset_imports = {{"", 17}, {kDyadDomain, 1}};
  return f;
}

Attribute to_type(DType t) { return int_attribute(static_cast<int64_t>(t)); }

// floor(t / D) for D > 0, exactly: Mod with fmod = 0 takes the divisor's sign, so t - r0 is a
// multiple of D and the Div is exact.
void add_floor_div(std::vector<Node>& body, const std::string& t, const std::string& d, const std::string& out) {
  const std::string rem = fmt::format("{}_rem", out), exact = fmt::format("{}_exact", out);
  body.push_back(make_node("Mod", {t, d}, {rem}, {{"fmod", int_attribute(0)}}));
  body.push_back(make_node("Sub", {t, rem}, {exact}));
  body.push_back(make_node("Div", {exact, d}, {out}));
}

// y = to(clamp(r + ZP, QMIN, QMAX)) through Less/Greater/Where.
void add_clamp(std::vector<Node>& body, const std::string& r, DType to) {
  body.push_back(make_node("Add", {r, "ZP"}, {"z"}));
  body.push_back(make_node("Less", {"z", "QMIN"}, {"below"}));
  body.push_back(make_node("Where", {"below", "QMIN", "z"}, {"z1"}));
  body.push_back(make_node("Greater", {"z1", "QMAX"}, {"above"}));
  body.push_back(make_node("Where", {"above", "QMAX", "z1"}, {"z2"}));
  body.push_back(make_node("Cast", {"z2"}, {"y"}, {{"to", to_type(to)}}));
}

void add_clamp_to_uint8(std::vector<Node>& body, const std::string& r) { add_clamp(body, r, DType::UInt8); }

// The rescale tail shared by DyadicRequant and DyadicAdd: floor((p + H) / D), zero point, clamp.
void add_rescale_tail(std::vector<Node>& body, DType to = DType::UInt8) {
  body.push_back(make_node("Add", {"p", "H"}, {"t"}));
  add_floor_div(body, "t", "D", "r");
  add_clamp(body, "r", to);
}

Node constant_node(const std::string& out, Tensor value) {
  Attribute a;
  a.kind = Attribute::Kind::Tensor;
  a.t = std::move(value);
  return make_node("Constant", {}, {out}, {{"value", a}});
}

Node constant_node(const std::string& out, int64_t v) { return constant_node(out, Tensor::scalar<int64_t>(v)); }

}  // namespace

Function dyadic_requant_function() {
  Function f = function_shell("DyadicRequant", {"acc", "M", "D", "H", "ZP", "QMIN", "QMAX"});
  f.nodes.push_back(make_node("Cast", {"acc"}, {"a"}, {{"to", to_type(DType::Int64)}}));
  f.nodes.push_back(make_node("Mul", {"a", "M"}, {"p"}));
  add_rescale_tail(f.nodes);
  return f;
}

Function dyadic_requant_index_function() {
  Function f = function_shell("DyadicRequantIndex", {"acc", "M", "D", "H", "ZP", "QMIN", "QMAX"});
  f.nodes.push_back(make_node("Cast", {"acc"}, {"a"}, {{"to", to_type(DType::Int64)}}));
  f.nodes.push_back(make_node("Mul", {"a", "M"}, {"p"}));
  add_rescale_tail(f.nodes, DType::Int32);
  return f;
}

Function dyadic_add_function() {
  Function f = function_shell("DyadicAdd", {"a", "b", "ZA", "MA", "ZB", "MB", "D", "H", "ZP", "QMIN", "QMAX"});
  f.nodes.push_back(make_node("Cast", {"a"}, {"a64"}, {{"to", to_type(DType::Int64)}}));
  f.nodes.push_back(make_node("Sub", {"a64", "ZA"}, {"da"}));
  f.nodes.push_back(make_node("Mul", {"da", "MA"}, {"pa"}));
  f.nodes.push_back(make_node("Cast", {"b"}, {"b64"}, {{"to", to_type(DType::Int64)}}));
  f.nodes.push_back(make_node("Sub", {"b64", "ZB"}, {"db"}));
  f.nodes.push_back(make_node("Mul", {"db", "MB"}, {"pb"}));
  f.nodes.push_back(make_node("Add", {"pa", "pb"}, {"p"}));
  add_rescale_tail(f.nodes);
  return f;
}

Function integer_sqrt_function() {
  Function f = function_shell("IntegerSqrt", {"n"});
  f.nodes.push_back(constant_node("start", int64_t{1} << 31));
  f.nodes.push_back(constant_node("two", 2));
  f.nodes.push_back(constant_node("one", 1));
  std::string x = "start";
  for (int i = 0; i < kIntegerSqrtSteps; ++i) {
    const std::string step = fmt::format("x{}", i);
    const std::string quotient = fmt::format("{}_q", step), sum = fmt::format("{}_sum", step);
    f.nodes.push_back(make_node("Div", {"n", x}, {quotient}));
    f.nodes.push_back(make_node("Add", {x, quotient}, {sum}));
    f.nodes.push_back(make_node("Div", {sum, "two"}, {step}));
    x = step;
  }
  // The iteration ends at floor(sqrt(n)) or one above it (it can alternate between the two).
  f.nodes.push_back(make_node("Mul", {x, x}, {"square"}));
  f.nodes.push_back(make_node("Greater", {"square", "n"}, {"too_big"}));
  f.nodes.push_back(make_node("Sub", {x, "one"}, {"below"}));
  f.nodes.push_back(make_node("Where", {"too_big", "below", x}, {"y"}));
  return f;
}

Function integer_layer_norm_function() {
  Function f = function_shell("IntegerLayerNorm", {"x", "ZX", "N", "E", "K2", "MG", "BB", "P", "HP", "ZP", "QMIN", "QMAX"});
  auto& b = f.nodes;
  b.push_back(constant_node("axes", Tensor::from_vector<int64_t>({-1}, {1})));
  b.push_back(make_node("Cast", {"x"}, {"x64"}, {{"to", to_type(DType::Int64)}}));
  b.push_back(make_node("Sub", {"x64", "ZX"}, {"c"}));
  b.push_back(make_node("ReduceSum", {"c", "axes"}, {"sum"}, {{"keepdims", int_attribute(1)}}));
  b.push_back(make_node("Mul", {"c", "N"}, {"nc"}));
  b.push_back(make_node("Sub", {"nc", "sum"}, {"u"}));
  b.push_back(make_node("Mul", {"u", "u"}, {"u2"}));
  b.push_back(make_node("ReduceSum", {"u2", "axes"}, {"ss"}, {{"keepdims", int_attribute(1)}}));
  b.push_back(make_node("Add", {"ss", "E"}, {"w"}));
  b.push_back(make_node("Mul", {"w", "K2"}, {"wk"}));
  Node sqrt = make_node("IntegerSqrt", {"wk"}, {"R"});
  sqrt.domain = kDyadDomain;
  b.push_back(std::move(sqrt));
  b.push_back(make_node("Mul", {"u", "MG"}, {"scaled"}));
  b.push_back(make_node("Mul", {"BB", "R"}, {"shift"}));
  b.push_back(make_node("Mul", {"HP", "R"}, {"half"}));
  b.push_back(make_node("Add", {"scaled", "shift"}, {"t0"}));
  b.push_back(make_node("Add", {"t0", "half"}, {"t"}));
  b.push_back(make_node("Mul", {"R", "P"}, {"den"}));
  add_floor_div(b, "t", "den", "r");
  add_clamp_to_uint8(b, "r");
  return f;
}

namespace {

std::string attribute_signature(const Attribute& a) {
  std::string s = fmt::format("k{} i{} f{} s{} r{} [", static_cast<int>(a.kind), a.i, a.f, a.s, a.ref_attr_name);
  for (int64_t v : a.ints) s += fmt::format("{},", v);
  s += "] t";
  if (a.kind == Attribute::Kind::Tensor) {
    s += fmt::format("{}:", static_cast<int>(a.t.dtype()));
    for (int64_t d : a.t.shape()) s += fmt::format("{}x", d);
    for (int64_t i = 0; i < a.t.numel(); ++i) s += fmt::format("{},", a.t.get_as_double(i));
  }
  return s;
}

std::string function_signature(const Function& f) {
  std::string s = fmt::format("{}.{}(", f.domain, f.name);
  for (const auto& in : f.inputs) s += in + ",";
  s += ")->(";
  for (const auto& out : f.outputs) s += out + ",";
  s += ")";
  for (const Node& n : f.nodes) {
    s += fmt::format("\n{}.{}(", n.domain, n.op_type);
    for (const auto& in : n.inputs) s += in + ",";
    s += ")->(";
    for (const auto& out : n.outputs) s += out + ",";
    s += ")";
    for (const auto& [k, a] : n.attrs) s += fmt::format(" {}={}", k, attribute_signature(a));
  }
  return s;
}

}  // namespace

bool is_canonical_dyad_function(const Function& f) {
  if (f.domain != kDyadDomain) return false;
  static const std::map<std::string, std::string> canonical = [] {
    std::map<std::string, std::string> m;
    for (const Function& d : dyad_functions()) m[d.name] = function_signature(d);
    return m;
  }();
  auto it = canonical.find(f.name);
  return it != canonical.end() && it->second == function_signature(f);
}

std::vector<Function> dyad_functions() {
  return {dyadic_requant_function(), dyadic_requant_index_function(), dyadic_add_function(), integer_sqrt_function(),
          integer_layer_norm_function()};
}

}  // namespace dyad
