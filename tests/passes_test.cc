// Each pass runs a model before and after and compares outputs, then checks the rewritten
// graph (as ONNX Runtime's TransformerTester does).
#include <gtest/gtest.h>

#include <random>

#include "formats/onnx/onnx_io.h"
#include "formats/onnx/onnx_text.h"
#include "formats/tensor_io/npy.h"
#include "lib/exec/executor.h"
#include "lib/passes/passes.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

int count_ops(const Graph& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.nodes) {
    n += node.op_type == op;
    for (const auto& [k, a] : node.attrs)
      if (a.g) n += count_ops(*a.g, op);
  }
  return n;
}

Tensor random_tensor(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  Tensor t(DType::Float32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Runs both models on the same inputs; expects outputs equal within `rel` of their range.
void expect_same_outputs(const Model& before, const Model& after, const std::map<std::string, Tensor>& inputs,
                         double rel = 1e-5) {
  const auto a = Executor(before).run(inputs), b = Executor(after).run(inputs);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_LE(test::max_abs_diff(a[i], b[i]), rel * std::max(test::value_range(a[i]), 1.0)) << "output " << i;
}

TEST(FoldBatchNorm, ResNetLosesEveryBatchNorm) {
  const Model original = load_onnx(test::testdata_dir() / "models" / "resnet_small.onnx");
  Model m = original;
  ASSERT_EQ(count_ops(m.graph, "BatchNormalization"), 9);
  EXPECT_TRUE(fold_batchnorm(m));
  // torch exported two BatchNorm biases as Identity of a shared initializer: those parameters
  // are not constants until the Identity goes, so two BatchNorms wait for remove_identity.
  EXPECT_EQ(count_ops(m.graph, "BatchNormalization"), 2);
  EXPECT_TRUE(remove_identity(m));
  EXPECT_TRUE(fold_batchnorm(m));
  EXPECT_EQ(count_ops(m.graph, "BatchNormalization"), 0);
  EXPECT_EQ(count_ops(m.graph, "Conv"), 9);
  expect_same_outputs(original, m, {{"input", read_npy(test::testdata_dir() / "fmnist" / "test_64.npy")}});
}

TEST(FoldBatchNorm, MobileNetDepthwiseConvs) {
  const Model original = load_onnx(test::testdata_dir() / "models" / "mobilenet_v2_small.onnx");
  Model m = original;
  EXPECT_TRUE(fold_batchnorm(m));
  EXPECT_EQ(count_ops(m.graph, "BatchNormalization"), 0);
  expect_same_outputs(original, m, {{"input", read_npy(test::testdata_dir() / "fmnist" / "test_64.npy")}});
}

TEST(FoldBatchNorm, GemmAndTwoDimensionalMatMul) {
  const Model original = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[4,3] x) => (float[4,2] y, float[4,2] z)
<float[2,3] w = {0.5, -1, 2, 1.5, 0.25, -0.75}, float[2] c = {0.1, -0.2},
 float[3,2] v = {1, 2, -3, 0.5, 0.25, -1},
 float[2] s = {1.5, 0.5}, float[2] b = {0.2, -0.3}, float[2] mu = {0.4, -0.1}, float[2] var = {0.9, 2.0}>
{
  g1 = Gemm <transB = 1, beta = 0.5> (x, w, c)
  y = BatchNormalization <epsilon = 0.001> (g1, s, b, mu, var)
  m1 = MatMul (x, v)
  z = BatchNormalization (m1, s, b, mu, var)
})");
  Model m = original;
  EXPECT_TRUE(fold_batchnorm(m));
  EXPECT_EQ(count_ops(m.graph, "BatchNormalization"), 0);
  EXPECT_EQ(count_ops(m.graph, "Gemm"), 2);
  expect_same_outputs(original, m, {{"x", random_tensor({4, 3}, 7)}});
}

TEST(FoldBatchNorm, LeavesSharedProducersAlone) {
  // The conv output is read by the BatchNorm and by a second consumer: folding would change it.
  const Model original = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1,1,3,3] x) => (float[1,1,3,3] y, float[1,1,3,3] z)
<float[1,1,1,1] w = {2.0}, float[1] s = {3.0}, float[1] b = {1.0}, float[1] mu = {0.0}, float[1] var = {1.0}>
{ c = Conv(x, w) y = BatchNormalization(c, s, b, mu, var) z = Relu(c) })");
  Model m = original;
  EXPECT_FALSE(fold_batchnorm(m));
  EXPECT_EQ(count_ops(m.graph, "BatchNormalization"), 1);
}

// LayerNormalization written out op by op, as paddle2onnx and older exporters emit it.
constexpr const char* kDecomposedLayerNorm = R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2,5,8] x) => (float[2,5,8] y)
<float[2] two = {2.0, 2.0}, float eps = {1e-5}, float[8] gamma = {1.0, 0.5, 2.0, -1.0, 1.5, 0.25, 1.0, 3.0},
 float[8] beta = {0.1, -0.2, 0.3, 0.0, 0.5, -0.5, 1.0, 0.0}, float p = {2.0}>
{ m = ReduceMean<axes = [-1]>(x) d = Sub(x, m) sq = Pow(d, p) v = ReduceMean<axes = [2]>(sq) ve = Add(v, eps)
  s = Sqrt(ve) n = Div(d, s) g1 = Mul(n, gamma) y = Add(beta, g1) })";

TEST(FuseLayerNorm, DecomposedFormBecomesOneOp) {
  const Model original = parse_onnx_text(kDecomposedLayerNorm);
  Model m = original;
  EXPECT_TRUE(fuse_layer_norm(m));
  ASSERT_EQ(m.graph.nodes.size(), 1u);
  EXPECT_EQ(m.graph.nodes[0].op_type, "LayerNormalization");
  EXPECT_EQ(m.graph.nodes[0].outputs[0], "y");
  EXPECT_FLOAT_EQ(m.graph.nodes[0].get_float("epsilon", 0), 1e-5f);
  EXPECT_EQ(m.graph.initializers.count("two"), 0u) << "unused initializers are dropped";
  expect_same_outputs(original, m, {{"x", random_tensor({2, 5, 8}, 4)}}, 1e-5);
}

TEST(FuseLayerNorm, LeavesOtherReductionsAlone) {
  // The centred value is also a graph output, and the reduction is over axis 1: neither is a
  // LayerNormalization.
  Model shared = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2,5,8] x) => (float[2,5,8] y, float[2,5,8] d)
<float eps = {1e-5}, float[8] gamma = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0}, float p = {2.0}>
{ m = ReduceMean<axes = [-1]>(x) d = Sub(x, m) sq = Pow(d, p) v = ReduceMean<axes = [-1]>(sq) ve = Add(v, eps)
  s = Sqrt(ve) n = Div(d, s) y = Mul(n, gamma) })");
  EXPECT_FALSE(fuse_layer_norm(shared));
  Model middle = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2,5,8] x) => (float[2,5,8] y)
<float eps = {1e-5}, float[8] gamma = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0}, float p = {2.0}>
{ m = ReduceMean<axes = [1]>(x) d = Sub(x, m) sq = Pow(d, p) v = ReduceMean<axes = [1]>(sq) ve = Add(v, eps)
  s = Sqrt(ve) n = Div(d, s) y = Mul(n, gamma) })");
  EXPECT_FALSE(fuse_layer_norm(middle));
}

TEST(RemoveIdentity, RewiresReadersAndKeepsGraphOutputNames) {
  const Model original = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2,3] x) => (float[2,3] y) { a = Identity(x) b = Relu(a) c = Neg(b) y = Dropout(c) })");
  Model m = original;
  EXPECT_TRUE(remove_identity(m));
  EXPECT_EQ(count_ops(m.graph, "Identity"), 0);
  EXPECT_EQ(count_ops(m.graph, "Dropout"), 0);
  EXPECT_EQ(m.graph.outputs[0].name, "y");
  EXPECT_EQ(m.graph.nodes.back().outputs[0], "y");
  expect_same_outputs(original, m, {{"x", random_tensor({2, 3}, 1)}}, 0.0);
}

TEST(RemoveIdentity, RecursesIntoSubgraphs) {
  const Model original = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[2] x) => (float[2] y) {
  y = If (c) < then_branch = t () => (float[2] r) { i = Identity(x) r = Neg(i) },
               else_branch = e () => (float[2] r) { r = Abs(x) } >
})");
  Model m = original;
  EXPECT_TRUE(remove_identity(m));
  EXPECT_EQ(count_ops(m.graph, "Identity"), 0);
  expect_same_outputs(original, m, {{"c", Tensor::scalar<bool>(true)}, {"x", random_tensor({2}, 3)}}, 0.0);
}

TEST(FoldConstants, EvaluatesConstantSubgraphsAndKnownShapes) {
  const Model original = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2,6] x) => (float[3,4] y) {
  k = Constant <value = float[6] {1, 2, 3, 4, 5, 6}> ()
  k2 = Mul(k, k)
  s = Shape(x)
  n = ReduceProd <keepdims = 0> (s)
  shp = Constant <value = int64[2] {3, -1}> ()
  sum = Add(x, k2)
  y = Reshape(sum, shp)
})");
  Model m = original;
  EXPECT_TRUE(fold_constants(m));
  // Constant, Mul, Shape and ReduceProd are gone; Add and Reshape of the real input remain.
  EXPECT_EQ(m.graph.nodes.size(), 2u);
  EXPECT_EQ(count_ops(m.graph, "Add"), 1);
  ASSERT_TRUE(m.graph.initializers.count("k2"));
  EXPECT_EQ(m.graph.initializers.at("k2").data<float>()[5], 36.0f);
  EXPECT_FALSE(m.graph.initializers.count("n")) << "unused results are dropped";
  expect_same_outputs(original, m, {{"x", random_tensor({2, 6}, 5)}}, 0.0);
}

TEST(FoldConstants, LeavesLargeResultsToRunTime) {
  const Model original = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1] x) => (float[1000,1000] y) {
  s = Constant <value = int64[2] {1000, 1000}> ()
  big = ConstantOfShape <value = float[1] {1.0}> (s)
  y = Add(big, x)
})");
  Model m = original;
  fold_constants(m, 1 << 20);
  EXPECT_EQ(count_ops(m.graph, "ConstantOfShape"), 1);
}

TEST(EqualizeCrossLayer, HandDerivedScalesThroughReluAndMaxPool) {
  // A's output channels have weight ranges 4 and 0.01, B's input channels 1 and 1, so
  // s = sqrt(r1 / r2) = (2, 0.1): A's channels become 4/2 = 2 and 0.01/0.1 = 0.1, B's 1*2 = 2
  // and 1*0.1 = 0.1, A's bias (2, 0.3) becomes (1, 3).
  const Model original = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1,1,6,6] x) => (float[1,1,2,2] y)
  <float[2,1,2,2] wa = {4, -1, 0.5, 2, 0.01, -0.005, 0.002, 0.001}, float[2] ba = {2, 0.3},
   float[1,2,1,1] wb = {1, -1}, float[1] bb = {0.25}> {
  a = Conv<kernel_shape = [2, 2]>(x, wa, ba)
  r = Relu(a)
  p = MaxPool<kernel_shape = [2, 2], strides = [2, 2]>(r)
  y = Conv<kernel_shape = [1, 1]>(p, wb, bb)
})");
  Model m = original;
  EXPECT_EQ(equalize_cross_layer(m), 1);
  const Tensor &wa = m.graph.initializers.at(m.graph.nodes[0].inputs[1]), &ba = m.graph.initializers.at(m.graph.nodes[0].inputs[2]);
  const Tensor& wb = m.graph.initializers.at(m.graph.nodes[3].inputs[1]);
  EXPECT_FLOAT_EQ(wa.data<float>()[0], 2.0f);
  EXPECT_FLOAT_EQ(wa.data<float>()[4], 0.1f);
  EXPECT_FLOAT_EQ(ba.data<float>()[0], 1.0f);
  EXPECT_FLOAT_EQ(ba.data<float>()[1], 3.0f);
  EXPECT_FLOAT_EQ(wb.data<float>()[0], 2.0f);
  EXPECT_FLOAT_EQ(wb.data<float>()[1], -0.1f);
  EXPECT_EQ(m.graph.initializers.count("wa"), 0u) << "replaced weights are dropped";
  expect_same_outputs(original, m, {{"x", random_tensor({1, 1, 6, 6}, 8)}});
}

TEST(EqualizeCrossLayer, DepthwiseFirstLayerIsCounted) {
  // Depthwise (one 3x3 filter per channel, ranges 8 and 0.5) -> Relu -> pointwise (ranges 2 and
  // 2): s = (2, 0.5), both layers' channel ranges become 4 and 1.
  const Model original = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[1,2,5,5] x) => (float[1,3,5,5] y)
  <float[2,1,3,3] wd = {8, 1, -2, 0, 0.5, 1, 2, 3, -4, 0.5, 0.1, 0, -0.2, 0.3, 0.1, 0, 0, 0.25},
   float[3,2,1,1] wp = {2, -1, 0.5, 2, -2, 1}> {
  d = Conv<kernel_shape = [3, 3], pads = [1, 1, 1, 1], group = 2>(x, wd)
  r = Relu(d)
  y = Conv<kernel_shape = [1, 1]>(r, wp)
})");
  Model m = original;
  int depthwise = 0;
  EXPECT_EQ(equalize_cross_layer(m, &depthwise), 1);
  EXPECT_EQ(depthwise, 1);
  const Tensor &wd = m.graph.initializers.at(m.graph.nodes[0].inputs[1]), &wp = m.graph.initializers.at(m.graph.nodes[2].inputs[1]);
  EXPECT_FLOAT_EQ(wd.data<float>()[0], 4.0f);
  EXPECT_FLOAT_EQ(wd.data<float>()[9], 1.0f);
  EXPECT_FLOAT_EQ(wp.data<float>()[0], 4.0f);
  EXPECT_FLOAT_EQ(wp.data<float>()[1], -0.5f);
  expect_same_outputs(original, m, {{"x", random_tensor({1, 2, 5, 5}, 9)}});
}

TEST(EqualizeCrossLayer, WholeModelsKeepTheirOutputs) {
  // resnet_small and the MLP have pairs joined by Relu; MobileNetV2's are joined by ReLU6 (a
  // clip at 6 does not commute with scaling) or a residual Add, so it has none.
  for (const auto& [name, has_pairs] : std::vector<std::pair<std::string, bool>>{
           {"mlp", true}, {"resnet_small", true}, {"mobilenet_v2_small", false}, {"mobilenet_v3_small", false}}) {
    Model original = load_onnx(test::testdata_dir() / "models" / (name + ".onnx"));
    prepare_graph(original);
    Model m = original;
    EXPECT_EQ(equalize_cross_layer(m) > 0, has_pairs) << name;
    expect_same_outputs(original, m, {{"input", read_npy(test::testdata_dir() / "fmnist" / "test_64.npy")}});
  }
}

TEST(PrepareGraph, WholeModelsKeepTheirOutputs) {
  for (const char* name : {"mlp", "lenet", "resnet_small", "mobilenet_v2_small", "mobilenet_v3_small", "vit_tiny"}) {
    const Model original = load_onnx(test::testdata_dir() / "models" / (std::string(name) + ".onnx"));
    Model m = original;
    prepare_graph(m);
    EXPECT_EQ(count_ops(m.graph, "BatchNormalization"), 0) << name;
    EXPECT_EQ(count_ops(m.graph, "Identity"), 0) << name;
    expect_same_outputs(original, m, {{"input", read_npy(test::testdata_dir() / "fmnist" / "test_64.npy")}});
  }
}

}  // namespace
}  // namespace dyad
