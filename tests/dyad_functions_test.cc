// The executor's native kernels for the ai.dyad functions against the functions' own bodies
// (the same executor with native_functions off inlines them), bit for bit, on random inputs:
// extreme accumulators, per-channel and scalar parameters, broadcasting, non-power-of-two
// divisors (the mean's runtime count), and a body that is not canonical (which must run as is).
#include <gtest/gtest.h>

#include <random>

#include "formats/calib_data.h"
#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "lib/compress/compress.h"
#include "lib/exec/executor.h"
#include "lib/exec/fuse_integer.h"
#include "lib/ir/inline_functions.h"
#include "lib/quant/integer_functions.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

struct Call {
  Model model;
  std::map<std::string, Tensor> inputs;
};

Call call_of(const Function& f, std::vector<Tensor> args) {
  Call c;
  c.model.opset_imports = {{"", 17}, {kDyadDomain, 1}};
  c.model.functions = dyad_functions();
  Node n = make_node(f.name, {}, {"y"});
  n.domain = kDyadDomain;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    n.inputs.push_back(name);
    c.model.graph.inputs.push_back({name, args[i].dtype(), false, {}});
    c.inputs[name] = std::move(args[i]);
  }
  c.model.graph.nodes.push_back(n);
  c.model.graph.outputs.push_back({"y", DType::Undefined, false, {}});
  return c;
}

void expect_native_equals_body(const Call& c, const std::string& what) {
  const Tensor native = Executor(c.model, {.threads = 2, .native_functions = true}).run(c.inputs)[0];
  const Tensor body = Executor(c.model, {.threads = 2, .native_functions = false}).run(c.inputs)[0];
  ASSERT_EQ(native.shape(), body.shape()) << what;
  ASSERT_EQ(native.dtype(), body.dtype()) << what;
  EXPECT_EQ(std::memcmp(native.raw(), body.raw(), native.nbytes()), 0) << what;
}

Tensor i64(std::vector<int64_t> v, Shape s) { return Tensor::from_vector<int64_t>(v, std::move(s)); }

TEST(DyadFunctions, RequantNativeEqualsBody) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 3), ch = 1 + static_cast<int64_t>(rng() % 7), hw = 1 + static_cast<int64_t>(rng() % 30);
    Tensor acc(DType::Int32, {n, ch, hw});
    for (int64_t i = 0; i < acc.numel(); ++i) {
      const uint64_t r = rng();
      acc.data<int32_t>()[i] = r % 17 == 0 ? (r % 2 ? INT32_MAX : INT32_MIN) : static_cast<int32_t>(static_cast<int64_t>(r % 2000001) - 1000000);
    }
    const bool per_channel = trial % 2 == 0, pow2 = trial % 3 != 0;
    std::vector<int64_t> m, d, h;
    for (int64_t c = 0; c < (per_channel ? ch : 1); ++c) {
      m.push_back((int64_t{1} << 30) + static_cast<int64_t>(rng() % (int64_t{1} << 30)));
      const int64_t dv = pow2 ? int64_t{1} << (rng() % 45) : 1 + static_cast<int64_t>(rng() % 100000) * 3;
      d.push_back(dv);
      h.push_back(dv / 2);
    }
    const Shape ps = per_channel ? Shape{ch, 1} : Shape{};
    // Odd trials: the int32 index form with a 12-bit range (and channel offsets in the zero point).
    const bool index = trial % 4 == 1;
    const int64_t top = index ? 4095 : 255;
    std::vector<int64_t> zp;
    for (int64_t c = 0; c < (per_channel ? ch : 1); ++c) zp.push_back(static_cast<int64_t>(rng() % (top + 1)) + (index ? 4096 * c : 0));
    const Call call = call_of(index ? dyadic_requant_index_function() : dyadic_requant_function(),
                              {acc, i64(m, ps), i64(d, ps), i64(h, ps), i64(zp, ps), i64({static_cast<int64_t>(rng() % 20)}, {}),
                               i64({top - static_cast<int64_t>(rng() % 20)}, {})});
    expect_native_equals_body(call, std::string(index ? "DyadicRequantIndex" : "DyadicRequant") + " trial " + std::to_string(trial));
    if (index) {  // and it is the rescale of dyadic.h, clamped, in int32
      const Tensor y = Executor(call.model, {.threads = 1}).run(call.inputs)[0];
      ASSERT_EQ(y.dtype(), DType::Int32);
      for (int64_t i = 0; i < y.numel(); ++i) {
        const size_t c = per_channel ? static_cast<size_t>((i / hw) % ch) : 0;
        const int64_t t = static_cast<int64_t>(static_cast<uint64_t>(acc.data<int32_t>()[i]) * static_cast<uint64_t>(m[c])) + h[c];
        int64_t r = t - ((t % d[c]) + d[c]) % d[c];
        r = r / d[c] + zp[c];
        r = std::clamp<int64_t>(r, call.inputs.at("in5").get_as_int64(0), call.inputs.at("in6").get_as_int64(0));
        ASSERT_EQ(y.data<int32_t>()[i], r) << "element " << i;
      }
    }
  }
}

TEST(DyadFunctions, AddNativeEqualsBodyWithAndWithoutBroadcast) {
  std::mt19937_64 rng(4);
  for (int trial = 0; trial < 20; ++trial) {
    Tensor a(DType::UInt8, {2, 5, 6}), b(DType::UInt8, trial % 2 ? Shape{2, 5, 6} : Shape{1, 5, 6});
    for (int64_t i = 0; i < a.numel(); ++i) a.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
    for (int64_t i = 0; i < b.numel(); ++i) b.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
    const int64_t s = static_cast<int64_t>(rng() % 40);
    expect_native_equals_body(
        call_of(dyadic_add_function(),
                {a, b, i64({static_cast<int64_t>(rng() % 256)}, {}), i64({(int64_t{1} << 30) + static_cast<int64_t>(rng() % 1000000)}, {}),
                 i64({static_cast<int64_t>(rng() % 256)}, {}), i64({(int64_t{1} << 29) + static_cast<int64_t>(rng() % 1000000)}, {}),
                 i64({int64_t{1} << s}, {}), i64({s ? int64_t{1} << (s - 1) : 0}, {}), i64({static_cast<int64_t>(rng() % 256)}, {}),
                 i64({0}, {}), i64({255}, {})}),
        "DyadicAdd trial " + std::to_string(trial));
  }
}

TEST(DyadFunctions, LayerNormAndSqrtNativeEqualBody) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 10; ++trial) {
    const int64_t features = 4 + static_cast<int64_t>(rng() % 60);
    Tensor x(DType::UInt8, {3, 4, features});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(trial == 0 ? 7 : rng());  // trial 0: zero variance
    std::vector<int64_t> mg(static_cast<size_t>(features)), bb(static_cast<size_t>(features));
    for (auto& v : mg) v = static_cast<int64_t>(rng() % (int64_t{1} << 36)) - (int64_t{1} << 35);
    for (auto& v : bb) v = static_cast<int64_t>(rng() % (int64_t{1} << 28)) - (int64_t{1} << 27);
    const int64_t f = 20;
    expect_native_equals_body(call_of(integer_layer_norm_function(),
                                      {x, i64({static_cast<int64_t>(rng() % 256)}, {}), i64({features}, {}), i64({1 + static_cast<int64_t>(rng() % 5000)}, {}),
                                       i64({int64_t{1} << 20}, {}), i64(mg, {features}), i64(bb, {features}), i64({int64_t{1} << f}, {}),
                                       i64({int64_t{1} << (f - 1)}, {}), i64({static_cast<int64_t>(rng() % 256)}, {}), i64({0}, {}), i64({255}, {})}),
                              "IntegerLayerNorm trial " + std::to_string(trial));
  }
  std::vector<int64_t> n;
  for (int i = 0; i < 500; ++i) n.push_back(1 + static_cast<int64_t>(rng() >> (2 + rng() % 60)));
  expect_native_equals_body(call_of(integer_sqrt_function(), {i64(n, {static_cast<int64_t>(n.size())})}), "IntegerSqrt");
}

TEST(DyadFunctions, FusedConvRequantEqualsTheUnfusedGraph) {
  // Real emitted models: ConvInteger + bias + DyadicRequant fused into the GEMM's output stage
  // (with DYAD_FORCE_ISA=reference, the fused node's scalar fallback) against the same graph
  // run op by op, and against the functions' bodies.
  for (const char* name : {"lenet", "mobilenet_v2_small", "mobilenet_v3_small"}) {
    const Model model = load_onnx(test::testdata_dir() / "models" / (std::string(name) + ".onnx"));
    const auto images = test::testdata_dir() / "fmnist" / "test_64.npy";
    CompressOptions options;
    options.budget = parse_budget("bits=8");
    options.calibration = load_calibration_batches(images, model.graph, {.batch_size = 32, .max_samples = 0, .preprocess = {}});
    const Model int8 = compress_model(model, options).model;
    Graph inlined = inline_functions(int8, is_canonical_dyad_function);
    EXPECT_GT(fuse_integer_layers(inlined), 0) << name;
    const std::map<std::string, Tensor> inputs{{"input", read_npy(images)}};
    const Tensor fused = Executor(int8, {.threads = 2, .native_functions = true, .fuse_integer = true}).run(inputs)[0];
    const Tensor unfused = Executor(int8, {.threads = 2, .native_functions = true, .fuse_integer = false}).run(inputs)[0];
    const Tensor bodies = Executor(int8, {.threads = 2, .native_functions = false, .fuse_integer = false}).run(inputs)[0];
    EXPECT_EQ(test::max_abs_diff(fused, unfused), 0.0) << name;
    EXPECT_EQ(test::max_abs_diff(fused, bodies), 0.0) << name;
  }
}

// Cast(x, to) [+ Add(offsets)] + Gather(table): the emitter's table lookups, fused into
// TableLookup, against the three ops run one by one.
void expect_table_lookup_fusion_exact(const Tensor& x, const Tensor* offsets, int64_t table_size, const std::string& what) {
  std::mt19937 rng(17);
  std::vector<uint8_t> table(static_cast<size_t>(table_size));
  for (auto& v : table) v = static_cast<uint8_t>(rng());
  Model m;
  m.opset_imports = {{"", 17}};
  m.graph.inputs.push_back({"x", x.dtype(), false, {}});
  m.graph.initializers["table"] = Tensor::from_vector<uint8_t>(table, {table_size});
  Node cast = make_node("Cast", {"x"}, {"index"});
  cast.attrs["to"].kind = Attribute::Kind::Int;
  cast.attrs["to"].i = static_cast<int64_t>(DType::Int32);
  m.graph.nodes.push_back(cast);
  std::string index = "index";
  if (offsets) {
    m.graph.initializers["offsets"] = *offsets;
    m.graph.nodes.push_back(make_node("Add", {"index", "offsets"}, {"shifted"}));
    index = "shifted";
  }
  m.graph.nodes.push_back(make_node("Gather", {"table", index}, {"y"}));
  m.graph.outputs.push_back({"y", DType::Undefined, false, {}});
  Graph fused_graph = m.graph;
  ASSERT_EQ(fuse_integer_layers(fused_graph), 1) << what;
  ASSERT_EQ(fused_graph.nodes.size(), 1u) << what;
  const Tensor fused = Executor(m, {.threads = 2, .fuse_integer = true}).run({{"x", x}})[0];
  const Tensor ops = Executor(m, {.threads = 2, .fuse_integer = false}).run({{"x", x}})[0];
  ASSERT_EQ(fused.shape(), ops.shape()) << what;
  EXPECT_EQ(test::max_abs_diff(fused, ops), 0.0) << what;
}

TEST(DyadFunctions, FusedTableLookupsEqualCastAddGather) {
  std::mt19937 rng(5);
  Tensor x(DType::UInt8, {2, 3, 5, 7});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
  expect_table_lookup_fusion_exact(x, nullptr, 256, "one table");
  const Tensor offsets = Tensor::from_vector<int32_t>({0, 256, 512}, {3, 1, 1});
  expect_table_lookup_fusion_exact(x, &offsets, 768, "per-channel tables, plane by plane");
  Tensor narrow(DType::UInt8, {2, 1, 5, 7});  // broadcast against the offsets: the general path
  for (int64_t i = 0; i < narrow.numel(); ++i) narrow.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
  expect_table_lookup_fusion_exact(narrow, &offsets, 768, "per-channel tables, broadcast index");
}

TEST(DyadFunctions, EditedBodiesRunAsWritten) {
  // A model whose DyadicRequant rounds differently (no H added) is not the canonical function:
  // the executor must run its body, not the native kernel.
  Function edited = dyadic_requant_function();
  ASSERT_TRUE(is_canonical_dyad_function(edited));
  for (auto& node : edited.nodes)
    if (node.op_type == "Add" && node.inputs.size() == 2 && node.inputs[1] == "H") node.op_type = "Sub";
  EXPECT_FALSE(is_canonical_dyad_function(edited));
  Call c = call_of(edited, {Tensor::from_vector<int32_t>({5, 6, 7}, {3}), i64({1}, {}), i64({4}, {}), i64({2}, {}), i64({0}, {}),
                            i64({0}, {}), i64({255}, {})});
  c.model.functions[0] = edited;
  const Tensor y = Executor(c.model).run(c.inputs)[0];
  // floor((x - 2) / 4) for 5, 6, 7 is 0, 1, 1; the canonical floor((x + 2) / 4) would be 1, 2, 2.
  EXPECT_EQ(y.data<uint8_t>()[0], 0);
  EXPECT_EQ(y.data<uint8_t>()[1], 1);
  EXPECT_EQ(y.data<uint8_t>()[2], 1);
}

}  // namespace
}  // namespace dyad
