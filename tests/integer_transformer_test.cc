// The integer forms transformers need: Newton integer square root, IntegerLayerNorm, the
// integer Softmax, MatMul of two activations and elementwise chains as tables. Each is checked
// against exact references (brute force for the square root), against float (a few output
// steps), and against ONNX Runtime (bit for bit).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <fmt/format.h>

#include "formats/onnx/onnx_io.h"
#include "formats/onnx/onnx_text.h"
#include "lib/calib/calibrate.h"
#include "lib/exec/executor.h"
#include "lib/ir/inline_functions.h"
#include "lib/quant/integer_functions.h"
#include "lib/quant/integer_onnx.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

int64_t exact_isqrt(int64_t n) {
  int64_t r = static_cast<int64_t>(std::sqrt(static_cast<long double>(n)));
  while (static_cast<__int128>(r) * r > n) --r;
  while (static_cast<__int128>(r + 1) * (r + 1) <= n) ++r;
  return r;
}

TEST(IntegerSqrt, EqualsTheExactFloorSquareRoot) {
  std::vector<int64_t> n = {1, 2, 3, 4, 5, 8, 9, 15, 16, 17, 99, 100, 101, (int64_t{1} << 62) - 1, int64_t{1} << 61};
  for (int64_t r : {int64_t{3}, int64_t{1000}, int64_t{46341}, int64_t{3037000499} / 2}) {
    n.push_back(r * r - 1), n.push_back(r * r), n.push_back(r * r + 2 * r);  // around squares, where Newton alternates
  }
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) n.push_back(static_cast<int64_t>(rng() >> (2 + rng() % 60)) | 1);
  Model m;
  m.opset_imports = {{"", 17}, {kDyadDomain, 1}};
  m.functions = {integer_sqrt_function()};
  m.graph.inputs.push_back({"n", DType::Int64, true, {Dim{static_cast<int64_t>(n.size()), ""}}});
  Node call = make_node("IntegerSqrt", {"n"}, {"r"});
  call.domain = kDyadDomain;
  m.graph.nodes.push_back(call);
  m.graph.outputs.push_back({"r", DType::Int64, true, {Dim{static_cast<int64_t>(n.size()), ""}}});
  const Tensor input = Tensor::from_vector<int64_t>(n, {static_cast<int64_t>(n.size())});
  const Tensor r = Executor(m).run({{"n", input}})[0];
  for (size_t i = 0; i < n.size(); ++i) EXPECT_EQ(r.data<int64_t>()[i], exact_isqrt(n[i])) << "n = " << n[i];
  if (test::ort_available()) {
    test::TempDir dir;
    save_onnx(m, dir / "isqrt.onnx");
    const Tensor theirs = test::run_onnxruntime(dir / "isqrt.onnx", {{"n", input}}, {"r"})[0];
    EXPECT_EQ(test::max_abs_diff(r, theirs), 0.0);
  }
}

std::string random_values(int64_t count, float scale, uint32_t seed, float offset = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::string s;
  for (int64_t i = 0; i < count; ++i) s += fmt::format("{}{:.5f}", i ? ", " : "", offset + dist(rng));
  return s;
}

// One pre-norm attention block and an MLP with GELU written out, as exporters emit them.
Model attention_block() {
  constexpr int d = 16, hidden = 32;
  const std::string text = fmt::format(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[4,6,{d}] x) => (float[4,6,{d}] y)
<float[{d}] g1 = {{{g1}}}, float[{d}] b1 = {{{b1}}}, float[{d},{d}] wq = {{{wq}}}, float[{d},{d}] wk = {{{wk}}},
 float[{d},{d}] wv = {{{wv}}}, float[{d}] bq = {{{bq}}}, float scale = {{0.25}}, float[{d},{h}] w1 = {{{w1}}},
 float[{h}] c1 = {{{c1}}}, float[{h},{d}] w2 = {{{w2}}}, float sqrt2 = {{1.4142135}}, float one = {{1.0}}, float half = {{0.5}}>
{{ n = LayerNormalization<axis = -1, epsilon = 1e-5>(x, g1, b1)
  q0 = MatMul(n, wq) q = Add(q0, bq) k = MatMul(n, wk) v = MatMul(n, wv)
  kt = Transpose<perm = [0, 2, 1]>(k) s0 = MatMul(q, kt) s = Mul(s0, scale) p = Softmax<axis = -1>(s)
  a = MatMul(p, v) r = Add(x, a)
  h0 = MatMul(r, w1) h = Add(c1, h0) e0 = Div(h, sqrt2) e1 = Erf(e0) e2 = Add(e1, one) e3 = Mul(h, e2) e = Mul(e3, half)
  o = MatMul(e, w2) y = Add(r, o) }})",
                                       fmt::arg("d", d), fmt::arg("h", hidden), fmt::arg("g1", random_values(d, 0.3f, 1, 1.0f)),
                                       fmt::arg("b1", random_values(d, 0.2f, 2)), fmt::arg("wq", random_values(d * d, 0.3f, 3)),
                                       fmt::arg("wk", random_values(d * d, 0.3f, 4)), fmt::arg("wv", random_values(d * d, 0.3f, 5)),
                                       fmt::arg("bq", random_values(d, 0.1f, 6)), fmt::arg("w1", random_values(d * hidden, 0.3f, 7)),
                                       fmt::arg("c1", random_values(hidden, 0.1f, 8)), fmt::arg("w2", random_values(hidden * d, 0.2f, 9)));
  return parse_onnx_text(text);
}

Tensor random_input(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Tensor t(DType::Float32, {4, 6, 16});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng) * (1.0f + static_cast<float>(i % 16) / 8.0f);
  return t;
}

TEST(IntegerTransformer, AttentionBlockIsIntegerOnlyBitExactAndCloseToFloat) {
  const Model model = attention_block();
  std::vector<std::map<std::string, Tensor>> batches;
  for (uint32_t s = 0; s < 8; ++s) batches.push_back({{"x", random_input(100 + s)}});
  const CalibrationStats stats = calibrate(model, batches, {});
  const IntegerEmitResult emitted = emit_integer_onnx(model, stats);
  EXPECT_TRUE(emitted.float_islands.empty()) << emitted.float_islands.front();
  EXPECT_EQ(emitted.activation_matmuls, 2);  // Q K^T and P V
  EXPECT_GE(emitted.tables, 1);              // the GELU chain (and the scaling)
  std::set<std::string> ops;
  for (const Node& n : inline_functions(emitted.model).nodes) ops.insert(n.op_type);
  for (const char* float_op : {"LayerNormalization", "Softmax", "Erf", "MatMul", "Div"})
    if (std::string(float_op) != "Div") {
      EXPECT_FALSE(ops.count(float_op)) << float_op << " left in float";
    }

  const Tensor x = random_input(7);  // not a calibration input
  const Tensor ours = Executor(emitted.model).run({{"x", x}})[0];
  const Tensor reference = Executor(model).run({{"x", x}})[0];
  // Eight-bit activations through LayerNorm, three projections, attention and the MLP with
  // random weights: the error stays within a tenth of the output range (a broken form would be
  // off by the whole range).
  const double range = test::value_range(reference), err = test::max_abs_diff(ours, reference);
  std::printf("attention block: max |integer - float| = %.4f (%.2f%% of the output range)\n", err, 100 * err / range);
  EXPECT_LT(err, 0.1 * range);
  if (test::ort_available()) {
    test::TempDir dir;
    save_onnx(emitted.model, dir / "block.onnx");
    const Tensor theirs = test::run_onnxruntime(dir / "block.onnx", {{"x", x}}, {"y"})[0];
    EXPECT_EQ(test::max_abs_diff(ours, theirs), 0.0) << "ONNX Runtime differs from Dyad's executor";
  }
}

// One op alone, against float math on exactly the uint8 input the integer graph computed from:
// what is left is the integer form's own error, in output steps.
struct OpError {
  double steps = 0;
  float step = 0;
};

OpError single_op_error(const std::string& op, const std::string& inits) {
  const Model model = parse_onnx_text(fmt::format(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[4,6,16] x) => (float[4,6,16] y) <{}, float[16,16] w = {{{}}}> {{ h = MatMul(x, w) y = {} }})",
                                                  inits, random_values(256, 0.25f, 11), op));
  std::vector<std::map<std::string, Tensor>> batches;
  for (uint32_t s = 0; s < 8; ++s) batches.push_back({{"x", random_input(200 + s)}});
  const IntegerEmitResult emitted = emit_integer_onnx(model, calibrate(model, batches, {}));
  EXPECT_TRUE(emitted.float_islands.empty());
  QuantizedTensor h, y;
  for (const auto& t : emitted.tensors) {
    if (t.float_name == "h") h = t;
    if (t.float_name == "y") y = t;
  }
  Tensor h_q, y_q;
  Executor(emitted.model).run({{"x", random_input(9)}}, [&](const std::string& name, const Tensor& v) {
    if (name == h.integer_name) h_q = v;
    if (name == y.integer_name) y_q = v;
  });
  const Tensor* gamma = model.graph.initializers.count("g") ? &model.graph.initializers.at("g") : nullptr;
  const Tensor* beta = model.graph.initializers.count("b") ? &model.graph.initializers.at("b") : nullptr;
  OpError e;
  e.step = y.scale;
  for (int64_t row = 0; row < h_q.numel() / 16; ++row) {
    double v[16], mean = 0, var = 0, top = -1e300, sum = 0;
    for (int i = 0; i < 16; ++i) {
      v[i] = h.scale * (static_cast<double>(h_q.data<uint8_t>()[row * 16 + i]) - h.zero_point);
      mean += v[i] / 16;
      top = std::max(top, v[i]);
    }
    for (int i = 0; i < 16; ++i) var += (v[i] - mean) * (v[i] - mean) / 16, sum += std::exp(v[i] - top);
    for (int i = 0; i < 16; ++i) {
      const double ref = gamma ? (v[i] - mean) / std::sqrt(var + 1e-5) * gamma->data<float>()[i] + beta->data<float>()[i]
                               : std::exp(v[i] - top) / sum;
      const double got = y.scale * (static_cast<double>(y_q.data<uint8_t>()[row * 16 + i]) - y.zero_point);
      // Values the output range clips are not the op's error.
      const double lo = y.scale * (0 - y.zero_point), hi = y.scale * (255 - y.zero_point);
      e.steps = std::max(e.steps, std::abs(got - std::clamp(ref, lo, hi)) / y.scale);
    }
  }
  return e;
}

TEST(IntegerTransformer, LayerNormAndSoftmaxRoundLikeFloatOnTheirInput) {
  // Rounding the exact result costs half a step; the exp table (2^-20) and the integer square
  // root (relative 2^-13) add a small fraction of a step.
  const OpError ln = single_op_error("LayerNormalization<axis = -1>(h, g, b)",
                                     fmt::format("float[16] g = {{{}}}, float[16] b = {{{}}}", random_values(16, 0.3f, 12, 1.0f),
                                                 random_values(16, 0.2f, 13)));
  std::printf("LayerNormalization: max error %.3f output steps\n", ln.steps);
  EXPECT_LE(ln.steps, 0.6);
  const OpError sm = single_op_error("Softmax<axis = -1>(h)", "float one = {1.0}");
  std::printf("Softmax: max error %.3f output steps of %.6f\n", sm.steps, sm.step);
  // The step is 256 / round(256 * 255 / p_max) for the largest calibrated probability p_max:
  // 1/255 when probabilities reach 1, finer when they stay lower.
  EXPECT_LE(sm.step, 1.0f / 255.0f + 1e-9f);
  EXPECT_GE(sm.step, 1.0f / (255.0f * 64.0f));
  EXPECT_LE(sm.steps, 0.6);
}

}  // namespace
}  // namespace dyad
