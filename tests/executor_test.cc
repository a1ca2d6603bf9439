// Executor behaviour beyond single ops (those are covered by ONNX's conformance data): input
// validation, the unsupported-op report, subgraphs reading outer values, model-local
// functions, observers, and results that do not depend on the thread count.
#include <gtest/gtest.h>

#include "formats/onnx/onnx_io.h"
#include "formats/onnx/onnx_text.h"
#include "formats/tensor_io/npy.h"
#include "lib/exec/executor.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

using test::error_of;

TEST(Executor, ReportsEveryUnsupportedOpWithItsNodeInOneMessage) {
  const Model m = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17, "com.example" : 1]>
g (float[2,2] x) => (float[2,2] y) {
  a = Einsum <equation = "ij->ij"> (x)
  b = com.example.Frobnicate (a)
  c = Relu (b)
  y = Einsum <equation = "ij->ij"> (c)
})",
                                  {.check = false});
  const std::string msg = error_of([&] { Executor e(m); });
  EXPECT_NE(msg.find("unsupported ops: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("Einsum"), std::string::npos) << msg;
  EXPECT_NE(msg.find("com.example.Frobnicate"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("Relu"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(Executor, ValidatesInputsByNameTypeAndShape) {
  const Model m = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[N,3] x) => (float[N,3] y) { y = Relu(x) })");
  Executor e(m);
  EXPECT_EQ(e.run({{"x", Tensor(DType::Float32, {5, 3})}})[0].shape(), (Shape{5, 3}));  // symbolic N
  EXPECT_NE(error_of([&] { e.run({{"x", Tensor(DType::Float32, {5, 4})}}); }).find("has shape [5,4] but the model expects [N,3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { e.run({{"x", Tensor(DType::Int32, {5, 3})}}); }).find("has type int32"), std::string::npos);
  EXPECT_NE(error_of([&] { e.run({}); }).find("input 'x' was not given"), std::string::npos);
  EXPECT_NE(error_of([&] { e.run({{"x", Tensor(DType::Float32, {1, 3})}, {"z", Tensor()}}); }).find("no input named 'z'"),
            std::string::npos);
}

TEST(Executor, IfBranchesReadOuterValues) {
  const Model m = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[3] x) => (float[3] y) {
  two = Constant <value = float[1] {2.0}> ()
  doubled = Mul(x, two)
  y = If (c) <
    then_branch = t () => (float[3] r) { r = Add(doubled, x) },
    else_branch = e () => (float[3] r) { r = Neg(doubled) }
  >
})");
  Executor e(m);
  const Tensor x = Tensor::from_vector<float>({1, 2, 3}, {3});
  const Tensor yes = Tensor::scalar<bool>(true), no = Tensor::scalar<bool>(false);
  EXPECT_EQ(e.run({{"c", yes}, {"x", x}})[0].data<float>()[2], 9.0f);   // 2*3 + 3
  EXPECT_EQ(e.run({{"c", no}, {"x", x}})[0].data<float>()[2], -6.0f);  // -(2*3)
}

TEST(Executor, InlinesModelLocalFunctions) {
  // y = Scale(x, k=3) with Scale(a) = Mul(a, k) as a model-local function taking an attribute.
  Model m = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { y = Relu(x) })");
  m.opset_imports.push_back({"local", 1});
  Function f;
  f.name = "Scale";
  f.domain = "local";
  f.inputs = {"a"};
  f.outputs = {"b"};
  f.attributes = {"k"};
  f.opset_imports = {{"", 17}};
  Node kconst{"kc", "Constant", "", {}, {"kv"}, {}};
  Attribute ref;
  ref.kind = Attribute::Kind::Float;
  ref.ref_attr_name = "k";
  kconst.attrs["value_float"] = ref;
  f.nodes = {kconst, Node{"mul", "Mul", "", {"a", "kv"}, {"b"}, {}}};
  m.functions.push_back(f);
  Node& call = m.graph.nodes[0];
  call.op_type = "Scale";
  call.domain = "local";
  Attribute k;
  k.kind = Attribute::Kind::Float;
  k.f = 3.0f;
  call.attrs["k"] = k;
  Executor e(m);
  const Tensor y = e.run({{"x", Tensor::from_vector<float>({1.5f, -2}, {2})}})[0];
  EXPECT_EQ(y.data<float>()[0], 4.5f);
  EXPECT_EQ(y.data<float>()[1], -6.0f);
}

TEST(Executor, ObserverSeesEveryProducedValue) {
  const Model m = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (float[2] y) { a = Relu(x) b = Neg(a) y = Abs(b) })");
  Executor e(m);
  std::vector<std::string> seen;
  e.run({{"x", Tensor(DType::Float32, {2})}}, [&](const std::string& name, const Tensor&) { seen.push_back(name); });
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "y"}));
}

TEST(Executor, ResultsDoNotDependOnTheThreadCount) {
  const Model m = load_onnx(test::testdata_dir() / "models" / "resnet_small.onnx");
  const Tensor x = read_npy(test::testdata_dir() / "fmnist" / "test_64.npy");
  const Tensor one = Executor(m, {.threads = 1}).run({{"input", x}})[0];
  const Tensor two = Executor(m, {.threads = 2}).run({{"input", x}})[0];
  EXPECT_EQ(test::max_abs_diff(one, two), 0.0);
}

}  // namespace
}  // namespace dyad
