// QuantizeLinear / DequantizeLinear features newer than ONNX 1.12's conformance data (per-axis,
// blocked, int4 outputs) and the integer ops' zero-point handling, against hand-derived values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "integer_kernels/qgemm.h"
#include "lib/exec/executor.h"
#include "lib/quant/quant_params.h"

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

// Products of any size shared by the threads, so that the small convolutions here take the
// executor's two-thread split too.
Tensor run(const Model& m, const Tensor& x) { return Executor(m, {.min_shared_product = 0}).run({{"x", x}})[0]; }

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

TEST(MatMulInteger, ConstantInt8WeightsOnTheGemmKernelsMatchANaiveSum) {
  // uint8 activations (batched, with a zero point) times a constant int8 [K, N] weight: the
  // W8A8 linear layer, which runs on the integer GEMM kernels in row blocks (N > one block).
  std::mt19937 rng(21);
  for (const auto& [k, n] : {std::pair<int64_t, int64_t>{37, 300}, {5, 7}, {128, 513}}) {
    const int64_t batch = 2, m = 3;
    std::vector<uint8_t> av(static_cast<size_t>(batch * m * k));
    std::vector<int8_t> bv(static_cast<size_t>(k * n));
    for (auto& v : av) v = static_cast<uint8_t>(rng());
    for (auto& v : bv) v = static_cast<int8_t>(rng());
    const Tensor a = Tensor::from_vector<uint8_t>(av, {batch, m, k});
    const Tensor y = run(one_node("MatMulInteger", a, {{"b", Tensor::from_vector<int8_t>(bv, {k, n})}, {"az", Tensor::scalar<uint8_t>(131)}}), a);
    ASSERT_EQ(y.shape(), (Shape{batch, m, n}));
    for (int64_t r = 0; r < batch * m; ++r)
      for (int64_t j = 0; j < n; ++j) {
        int64_t exact = 0;
        for (int64_t kk = 0; kk < k; ++kk) exact += (int64_t{av[static_cast<size_t>(r * k + kk)]} - 131) * bv[static_cast<size_t>(kk * n + j)];
        ASSERT_EQ(y.data<int32_t>()[r * n + j], exact) << "k=" << k << " n=" << n << " at " << r << "," << j;
      }
  }
}

TEST(QuantizeLinear, PerTensorUint8RoundsHalfToEvenAndSaturates) {
  // The input quantizer's typed path: x / 0.5 = {0.5, 2.5, 4.5, -0.5, -3.5, 2000, -2000} rounds
  // half to even to {0, 2, 4, 0, -4, ...}, plus 3, saturated to [0, 255].
  const Tensor x = Tensor::from_vector<float>({0.25f, 1.25f, 2.25f, -0.25f, -1.75f, 1000.0f, -1000.0f}, {7});
  const Tensor y = run(one_node("QuantizeLinear", x, {{"s", Tensor::scalar<float>(0.5f)}, {"z", Tensor::scalar<uint8_t>(3)}}), x);
  EXPECT_EQ(y.dtype(), DType::UInt8);
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{3, 5, 7, 3, 0, 255, 0}));
  const Tensor back = run(one_node("DequantizeLinear", y, {{"s", Tensor::scalar<float>(0.5f)}, {"z", Tensor::scalar<uint8_t>(3)}}), y);
  EXPECT_EQ(back.dtype(), DType::Float32);
  const std::vector<float> expected{0.0f, 1.0f, 2.0f, 0.0f, -1.5f, 126.0f, -1.5f};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(back.data<float>()[i], expected[static_cast<size_t>(i)]) << i;
}

TEST(WeightQuant, PerChannelScalesValuesAndSqnrByHand) {
  // Channel 0 {1, 0.5}: scale 1/127, 0.5 * 127 = 63.5 rounds to even 64, an error of
  // 0.5 - 64/127 = -0.5/127. Channel 1 {-2, 2}: exact. SQNR = 10 log10(1.25 + 8) / (0.5/127)^2.
  const Tensor w = Tensor::from_vector<float>({1.0f, 0.5f, -2.0f, 2.0f}, {2, 2});
  const WeightQuant q = quantize_weights_per_channel(w, 0);
  EXPECT_FLOAT_EQ(q.scales[0], 1.0f / 127.0f);
  EXPECT_FLOAT_EQ(q.scales[1], 2.0f / 127.0f);
  EXPECT_EQ(q.values.to_int64_vector(), (std::vector<int64_t>{127, 64, -127, 127}));
  const double error = 0.5 - 64.0 / 127.0;
  EXPECT_NEAR(q.sqnr_db, 10.0 * std::log10(9.25 / (error * error)), 1e-3);
}

struct ConvIntegerCase {
  int64_t n, c, m, group, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, h, w;
  int32_t zp;
};

// Runs ConvInteger on random data for `g` and compares every output with a direct int64 sum.
void expect_conv_integer_matches_naive(const ConvIntegerCase& g, std::mt19937& rng, const std::string& label) {
  Tensor x(DType::UInt8, {g.n, g.c, g.h, g.w}), wt(DType::Int8, {g.m, g.c / g.group, g.kh, g.kw});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(rng());
  for (int64_t i = 0; i < wt.numel(); ++i) wt.data<int8_t>()[i] = static_cast<int8_t>(rng());
  std::map<std::string, Attribute> attrs{{"group", int_attr(g.group)}};
  Attribute pads, strides, dilations;
  pads.kind = strides.kind = dilations.kind = Attribute::Kind::Ints;
  pads.ints = {g.pt, g.pl, g.pb, g.pr};
  strides.ints = {g.sh, g.sw};
  dilations.ints = {g.dh, g.dw};
  attrs["pads"] = pads;
  attrs["strides"] = strides;
  attrs["dilations"] = dilations;
  const Tensor y = run(one_node("ConvInteger", x, {{"w", wt}, {"z", Tensor::scalar<uint8_t>(static_cast<uint8_t>(g.zp))}}, attrs), x);
  const int64_t oh = (g.h + g.pt + g.pb - (g.kh - 1) * g.dh - 1) / g.sh + 1, ow = (g.w + g.pl + g.pr - (g.kw - 1) * g.dw - 1) / g.sw + 1;
  const int64_t cg = g.c / g.group, mg = g.m / g.group;
  ASSERT_EQ(y.shape(), (Shape{g.n, g.m, oh, ow})) << label;
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t o = 0; o < g.m; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int64_t acc = 0;
          for (int64_t ch = 0; ch < cg; ++ch)
            for (int64_t a = 0; a < g.kh; ++a)
              for (int64_t d = 0; d < g.kw; ++d) {
                const int64_t ih = i * g.sh - g.pt + a * g.dh, iw = j * g.sw - g.pl + d * g.dw;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                acc += int64_t{wt.data<int8_t>()[((o * cg + ch) * g.kh + a) * g.kw + d]} *
                       (int64_t{x.data<uint8_t>()[((b * g.c + (o / mg) * cg + ch) * g.h + ih) * g.w + iw]} - g.zp);
              }
          ASSERT_EQ(y.data<int32_t>()[((b * g.m + o) * oh + i) * ow + j], acc)
              << label << " kernel " << g.kh << "x" << g.kw << " stride " << g.sh << "," << g.sw << " dilation " << g.dh << "," << g.dw
              << " pads " << g.pt << "," << g.pl << "," << g.pb << "," << g.pr << " group " << g.group << " at " << b << "," << o << "," << i
              << "," << j;
        }
}

TEST(ConvInteger, MatchesANaiveIntegerConvolution) {
  // uint8 x int8 without a weight zero point runs on the integer kernels (the GEMM read in place
  // through stride phases, pointwise packing, im2col for 1x1 strided, the depthwise kernel);
  // compare with a direct int64 sum over random geometries (strides 1-3, dilations 1-2,
  // asymmetric pads), groups and zero points. Up to 80 output channels over small maps: a single
  // image's product is then shared by weight rows as well as by columns (share_product).
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  for (int trial = 0; trial < 80; ++trial) {
    ConvIntegerCase g{};
    const bool depthwise = trial % 5 == 4;
    const int64_t group_choice = trial % 4 == 0 ? 2 : 1;
    g.c = depthwise ? 1 + rng() % 6 : group_choice * (1 + rng() % 5);
    g.group = depthwise ? g.c : group_choice;
    g.m = depthwise ? g.c : g.group * (1 + rng() % 40);
    g.kh = 1 + rng() % 3, g.kw = 1 + rng() % 3, g.sh = 1 + rng() % 3, g.sw = 1 + rng() % 2;
    g.dh = 1 + rng() % 2, g.dw = 1 + rng() % 2;
    g.pt = rng() % 3, g.pl = rng() % 3, g.pb = rng() % 2, g.pr = rng() % 3;
    g.h = (g.kh - 1) * g.dh + 1 + rng() % 9, g.w = (g.kw - 1) * g.dw + 1 + rng() % 20, g.n = 1 + rng() % 2;
    g.zp = static_cast<int32_t>(rng() % 256);
    expect_conv_integer_matches_naive(g, rng, "trial " + std::to_string(trial));
    if (HasFatalFailure()) return;
  }
}

TEST(ConvInteger, DeepLayersOnSmallMapsTakeTheRowsInLanesKernel) {
  // Long reductions over few output pixels (a network's last stage): the executor packs the
  // weights with output channels in vector lanes (qgemm_layout_for), in place for 3x3 and
  // pointwise for 1x1; one and two images (rows or columns shared by the threads), channel
  // counts off the 64-row panel. Checked against the direct sum, and the kernel must have run.
  if (qgemm_isa_best() != QIsa::Avx512Vnni) GTEST_SKIP() << "the executor's kernels are not AVX-512 VNNI here";
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  const ConvIntegerCase cases[] = {
      {1, 128, 64, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 77},    // in place, 5 x 7 wide columns
      {2, 131, 190, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 5, 3},    // channels past a panel, two images
      {1, 640, 72, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4, 4, 200},   // pointwise, k = 640
      {1, 256, 128, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 7, 7, 128},  // groups, stride 2
  };
  int index = 0;
  for (const ConvIntegerCase& g : cases) {
    const int64_t before = qgemm_rows_in_lanes_calls();
    expect_conv_integer_matches_naive(g, rng, "case " + std::to_string(index));
    if (HasFatalFailure()) return;
    EXPECT_GT(qgemm_rows_in_lanes_calls(), before) << "case " << index << " did not take the RowsInLanes kernel";
    ++index;
  }
}

}  // namespace
}  // namespace dyad
