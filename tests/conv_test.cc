// Conv through the executor against a naive double-precision convolution on random geometries
// (strides, pads, dilations, groups, depthwise, 1-D and 2-D, fused Relu), so every strategy
// (implicit direct, phase planes, im2col, depthwise, Eigen fallback) is checked independently of
// ONNX's fixed conformance cases.
#include <gtest/gtest.h>

#include <random>

#include "lib/exec/executor.h"

namespace dyad {
namespace {

struct Geometry {
  int64_t n, c, m, group, kh, kw, sh, sw, dh, dw, ph0, pw0, ph1, pw1, h, w;
  bool one_d, relu;
};

Attribute ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::Ints;
  a.ints = std::move(v);
  return a;
}

Model conv_model(const Geometry& g, const Tensor& w, const Tensor& b) {
  Model model;
  model.opset_imports = {{"", 17}};
  model.graph.inputs.push_back({"x", DType::Float32, false, {}});
  model.graph.initializers["w"] = w;
  model.graph.initializers["b"] = b;
  Node conv{"conv", "Conv", "", {"x", "w", "b"}, {g.relu ? "c" : "y"}, {}};
  Attribute group;
  group.kind = Attribute::Kind::Int;
  group.i = g.group;
  conv.attrs["group"] = group;
  if (g.one_d) {
    conv.attrs["strides"] = ints({g.sw});
    conv.attrs["dilations"] = ints({g.dw});
    conv.attrs["pads"] = ints({g.pw0, g.pw1});
  } else {
    conv.attrs["strides"] = ints({g.sh, g.sw});
    conv.attrs["dilations"] = ints({g.dh, g.dw});
    conv.attrs["pads"] = ints({g.ph0, g.pw0, g.ph1, g.pw1});
  }
  model.graph.nodes.push_back(conv);
  if (g.relu) model.graph.nodes.push_back(Node{"relu", "Relu", "", {"c"}, {"y"}, {}});
  model.graph.outputs.push_back({"y", DType::Float32, false, {}});
  return model;
}

TEST(Conv, MatchesNaiveConvolutionOnRandomGeometries) {
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  std::uniform_real_distribution<float> dist(-1, 1);
  int ran = 0;
  for (int trial = 0; trial < 150; ++trial) {
    Geometry g{};
    g.one_d = trial % 6 == 0;
    g.relu = trial % 3 == 0;
    g.n = 1 + rng() % 3;
    g.group = trial % 5 == 0 ? 2 : 1;
    g.c = g.group * (1 + rng() % 4);
    g.m = g.group * (1 + rng() % 9);
    if (trial % 7 == 0) g.group = g.c = g.m = 1 + rng() % 6;  // depthwise
    g.kh = g.one_d ? 1 : 1 + rng() % 5;
    g.kw = 1 + rng() % 5;
    g.sh = g.one_d ? 1 : 1 + rng() % 3;
    g.sw = 1 + rng() % 3;
    g.dh = g.one_d ? 1 : 1 + rng() % 2;
    g.dw = 1 + rng() % 2;
    g.ph0 = g.one_d ? 0 : rng() % 3;
    g.ph1 = g.one_d ? 0 : rng() % 3;
    g.pw0 = rng() % 3;
    g.pw1 = rng() % 3;
    g.h = g.one_d ? 1 : 1 + rng() % 20;
    g.w = 1 + rng() % 40;
    if (trial % 4 == 1) {  // "same" geometry, the implicit direct path
      g.sh = g.sw = 1;
      g.kh = g.one_d ? 1 : 1 + 2 * (rng() % 3);
      g.kw = 1 + 2 * (rng() % 3);
      g.ph0 = g.ph1 = (g.kh - 1) * g.dh / 2;
      g.pw0 = g.pw1 = (g.kw - 1) * g.dw / 2;
    }
    const int64_t span_h = (g.kh - 1) * g.dh + 1, span_w = (g.kw - 1) * g.dw + 1;
    if (g.h + g.ph0 + g.ph1 < span_h || g.w + g.pw0 + g.pw1 < span_w) continue;
    const int64_t oh = (g.h + g.ph0 + g.ph1 - span_h) / g.sh + 1, ow = (g.w + g.pw0 + g.pw1 - span_w) / g.sw + 1;
    const int64_t cg = g.c / g.group, mg = g.m / g.group;
    Shape xs = g.one_d ? Shape{g.n, g.c, g.w} : Shape{g.n, g.c, g.h, g.w};
    Shape ws = g.one_d ? Shape{g.m, cg, g.kw} : Shape{g.m, cg, g.kh, g.kw};
    Tensor x(DType::Float32, xs), w(DType::Float32, ws), b(DType::Float32, {g.m});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = dist(rng);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = dist(rng);
    for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] = dist(rng);
    const Tensor y = Executor(conv_model(g, w, b), {.threads = 1 + static_cast<int>(trial % 2)}).run({{"x", x}})[0];
    ASSERT_EQ(y.numel(), g.n * g.m * oh * ow) << "trial " << trial;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t m = 0; m < g.m; ++m)
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j) {
            double acc = b.data<float>()[m];
            const int64_t gi = m / mg;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t kh = 0; kh < g.kh; ++kh)
                for (int64_t kw = 0; kw < g.kw; ++kw) {
                  const int64_t ih = i * g.sh - g.ph0 + kh * g.dh, iw = j * g.sw - g.pw0 + kw * g.dw;
                  if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                  acc += static_cast<double>(w.data<float>()[((m * cg + c) * g.kh + kh) * g.kw + kw]) *
                         x.data<float>()[((n * g.c + gi * cg + c) * g.h + ih) * g.w + iw];
                }
            if (g.relu) acc = std::max(acc, 0.0);
            ASSERT_NEAR(y.data<float>()[((n * g.m + m) * oh + i) * ow + j], acc, 1e-4)
                << "trial " << trial << " at n=" << n << " m=" << m << " i=" << i << " j=" << j << " stride " << g.sh
                << "x" << g.sw << " kernel " << g.kh << "x" << g.kw << " group " << g.group;
          }
    ++ran;
  }
  EXPECT_GT(ran, 100);
}

}  // namespace
}  // namespace dyad
