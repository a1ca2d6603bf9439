// QuantizeLinear / DequantizeLinear features newer than ONNX 1.12's conformance data (per-axis,
// blocked, int4 outputs) and the integer ops' zero-point handling, against hand-derived values.
#include <gtest/gtest.h>

#include "lib/exec/executor.h"

namespace dyad {
namespace {

// A one-node model in opset 21 whose inputs are all initializers except "x".
Model one_node(const std::string& op, const Tensor& x, const std::vector<std::pair<std::string, Tensor>>& params,
               std::map<std::string, Attribute> attrs = {}) {
  Model m;
  m.ir_version = 10;
  m.opset_imports = {{"", 21}};
  ValueInfo in;
  in.name = "x";
  in.dtype = x.dtype();
  m.graph.inputs.push_back(in);
  Node n;
  n.op_type = op;
  n.name = "node";
  n.inputs = {"x"};
  for (const auto& [name, t] : params) {
    n.inputs.push_back(name);
    m.graph.initializers[name] = t;
  }
  n.outputs = {"y"};
  n.attrs = std::move(attrs);
  m.graph.nodes.push_back(n);
  ValueInfo out;
  out.name = "y";
  m.graph.outputs.push_back(out);
  return m;
}

Attribute int_attr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  return a;
}

Tensor run(const Model& m, const Tensor& x) { return Executor(m).run({{"x", x}})[0]; }

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturates) {
  const Tensor x = Tensor::from_vector<float>({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.0f, -1000.0f}, {7});
  const Tensor y = run(one_node("QuantizeLinear", x, {{"s", Tensor::scalar<float>(1.0f)}, {"z", Tensor::scalar<int8_t>(0)}}), x);
  EXPECT_EQ(y.dtype(), DType::Int8);
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{0, 2, 2, 0, -2, 127, -128}));
}

TEST(QuantizeLinear, PerAxisAndBlocked) {
  // x [2, 4]; per-axis scales along axis 0: row 0 / 0.5, row 1 / 2 with zero points 10 and -3.
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 8, 6, 4, 2}, {2, 4});
  const Tensor axis0 = run(one_node("QuantizeLinear", x,
                                    {{"s", Tensor::from_vector<float>({0.5f, 2.0f}, {2})},
                                     {"z", Tensor::from_vector<int8_t>({10, -3}, {2})}},
                                    {{"axis", int_attr(0)}}),
                           x);
  EXPECT_EQ(axis0.to_int64_vector(), (std::vector<int64_t>{12, 14, 16, 18, 1, 0, -1, -2}));
  // Blocks of 2 along axis 1: scale [2, 2] = {{1, 2}, {4, 0.5}}.
  const Tensor blocked = run(one_node("QuantizeLinear", x,
                                      {{"s", Tensor::from_vector<float>({1, 2, 4, 0.5f}, {2, 2})},
                                       {"z", Tensor::from_vector<int8_t>({0, 0, 0, 0}, {2, 2})}},
                                      {{"axis", int_attr(1)}, {"block_size", int_attr(2)}}),
                             x);
  // 1/1, 2/1, 3/2=1.5->2, 4/2 | 8/4, 6/4=1.5->2, 4/0.5, 2/0.5
  EXPECT_EQ(blocked.to_int64_vector(), (std::vector<int64_t>{1, 2, 2, 2, 2, 2, 8, 4}));
}

TEST(QuantizeLinear, ToInt4Packs) {
  const Tensor x = Tensor::from_vector<float>({-9, -8, -1, 0, 7, 8, 3}, {7});
  Tensor zp(DType::Int4, {});
  const Tensor y = run(one_node("QuantizeLinear", x, {{"s", Tensor::scalar<float>(1.0f)}, {"z", zp}}), x);
  EXPECT_EQ(y.dtype(), DType::Int4);
  EXPECT_EQ(y.nbytes(), 4u);
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{-8, -8, -1, 0, 7, 7, 3}));
}

TEST(DequantizeLinear, Int4PerAxisWithZeroPoints) {
  Tensor x(DType::Int4, {2, 3});
  const int codes[] = {-8, 0, 7, 1, -1, 3};
  for (int i = 0; i < 6; ++i) int4_set(x.raw(), i, codes[i]);
  Tensor zp(DType::Int4, {2});
  int4_set(zp.raw(), 0, 1);
  int4_set(zp.raw(), 1, -2);
  const Tensor y = run(one_node("DequantizeLinear", x, {{"s", Tensor::from_vector<float>({0.5f, 0.25f}, {2})}, {"z", zp}},
                                {{"axis", int_attr(0)}}),
                       x);
  // row 0: (c - 1) * 0.5; row 1: (c + 2) * 0.25
  const std::vector<float> expected{-4.5f, -0.5f, 3.0f, 0.75f, 0.25f, 1.25f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.data<float>()[i], expected[static_cast<size_t>(i)]) << i;
}

TEST(MatMulInteger, SubtractsZeroPoints) {
  // [[200, 10]] (zp 100) x [[-3], [5]] (zp 1): (100 * -4) + (-90 * 4) = -760.
  const Tensor a = Tensor::from_vector<uint8_t>({200, 10}, {1, 2});
  const Tensor y = run(one_node("MatMulInteger", a,
                                {{"b", Tensor::from_vector<int8_t>({-3, 5}, {2, 1})},
                                 {"az", Tensor::scalar<uint8_t>(100)},
                                 {"bz", Tensor::scalar<int8_t>(1)}}),
                       a);
  EXPECT_EQ(y.dtype(), DType::Int32);
  EXPECT_EQ(y.data<int32_t>()[0], -760);
}

}  // namespace
}  // namespace dyad
