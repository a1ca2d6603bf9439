// Integer depthwise convolution: the reference against an independent int64 sum over a padded
// copy of the input, and every optimised variant against the reference bit for bit on random
// shapes (odd sizes, kernels 1-7, strides, dilations, asymmetric padding), zero points and
// extreme values, for all three output types; and proof that the variants ran.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <algorithm>
#include <random>

#include "integer_kernels/qdepthwise.h"

namespace dyad {
namespace {

struct Problem {
  QDepthwiseShape s;
  std::vector<uint8_t> x;
  std::vector<int8_t> w;
  int32_t x_zp;
  QDepthwiseOutput out;
};

Problem random_problem(std::mt19937& rng, bool extreme, QOutput output, bool unit_stride_w) {
  auto pick = [&](int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(rng() % static_cast<uint32_t>(hi - lo + 1)); };
  Problem p{};
  QDepthwiseShape& s = p.s;
  s.kernel_h = pick(1, 7);
  s.kernel_w = pick(1, 7);
  s.dilation_h = pick(1, 2);
  s.dilation_w = pick(1, 2);
  s.stride_h = pick(1, 3);
  s.stride_w = unit_stride_w ? 1 : pick(1, 3);
  s.pad_h = pick(0, s.kernel_h);
  s.pad_w = pick(0, s.kernel_w);
  s.height = pick(1, 23);
  s.width = pick(1, 70);
  const int64_t span_h = (s.kernel_h - 1) * s.dilation_h + 1, span_w = (s.kernel_w - 1) * s.dilation_w + 1;
  const int64_t pad_end_h = pick(0, 3), pad_end_w = pick(0, 3);
  if (s.height + s.pad_h + pad_end_h < span_h) s.height = span_h;
  if (s.width + s.pad_w + pad_end_w < span_w) s.width = span_w;
  s.out_height = (s.height + s.pad_h + pad_end_h - span_h) / s.stride_h + 1;
  s.out_width = (s.width + s.pad_w + pad_end_w - span_w) / s.stride_w + 1;
  p.x.resize(static_cast<size_t>(s.height * s.width));
  p.w.resize(static_cast<size_t>(s.kernel_h * s.kernel_w));
  for (auto& v : p.x) v = extreme ? (rng() % 2 ? uint8_t{0} : uint8_t{255}) : static_cast<uint8_t>(rng());
  for (auto& v : p.w) v = extreme ? (rng() % 2 ? int8_t{-128} : int8_t{127}) : static_cast<int8_t>(rng());
  p.x_zp = static_cast<int32_t>(rng() % 256);
  p.out.bias = static_cast<int32_t>(rng() % (1u << 21)) - (1 << 20);
  p.out.output = output;
  p.out.multiplier = dyadic_from_real(std::exp2(3.0 - static_cast<double>(rng() % 25)));  // 8 down to 2^-21: both requant paths
  p.out.zero_point = output == QOutput::Int8 ? -5 : 131;
  p.out.qmin = output == QOutput::Int8 ? -128 : 0;
  p.out.qmax = output == QOutput::Int8 ? 127 : 255;
  return p;
}

std::vector<uint8_t> run(QIsa isa, const Problem& p) {
  const size_t elem = p.out.output == QOutput::Int32 ? 4 : 1;
  std::vector<uint8_t> y(static_cast<size_t>(p.s.out_height * p.s.out_width) * elem + 8, 0xA5);  // trailing sentinel
  qdepthwise_conv2d(isa, p.s, 1, p.x.data(), p.x_zp, p.w.data(), &p.out, y.data());
  return y;
}

// Several channels in one call: each plane on its own filter and output stage.
std::vector<uint8_t> run_channels(QIsa isa, const std::vector<Problem>& ps) {
  std::vector<uint8_t> x, y;
  std::vector<int8_t> w;
  std::vector<QDepthwiseOutput> outs;
  for (const Problem& p : ps) {
    x.insert(x.end(), p.x.begin(), p.x.end());
    w.insert(w.end(), p.w.begin(), p.w.end());
    outs.push_back(p.out);
  }
  y.assign(static_cast<size_t>(ps[0].s.out_height * ps[0].s.out_width) * ps.size() + 8, 0xA5);
  qdepthwise_conv2d(isa, ps[0].s, static_cast<int64_t>(ps.size()), x.data(), ps[0].x_zp, w.data(), outs.data(), y.data());
  return y;
}

TEST(QDepthwise, ReferenceEqualsAnIndependentSum) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    const Problem p = random_problem(rng, false, QOutput::Int32, false);
    const QDepthwiseShape& s = p.s;
    // The input padded with its zero point: padded taps then contribute (z - z) * w = 0.
    const int64_t ph = s.height + 2 * 32, pw = s.width + 2 * 32;
    std::vector<int64_t> padded(static_cast<size_t>(ph * pw), p.x_zp);
    for (int64_t i = 0; i < s.height; ++i)
      for (int64_t j = 0; j < s.width; ++j) padded[static_cast<size_t>((i + 32) * pw + j + 32)] = p.x[static_cast<size_t>(i * s.width + j)];
    const std::vector<uint8_t> y = run(QIsa::Reference, p);
    for (int64_t oh = 0; oh < s.out_height; ++oh)
      for (int64_t ow = 0; ow < s.out_width; ++ow) {
        int64_t exact = p.out.bias;
        for (int64_t kh = 0; kh < s.kernel_h; ++kh)
          for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
            const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h + 32, iw = ow * s.stride_w - s.pad_w + kw * s.dilation_w + 32;
            exact += int64_t{p.w[static_cast<size_t>(kh * s.kernel_w + kw)]} * (padded[static_cast<size_t>(ih * pw + iw)] - p.x_zp);
          }
        int32_t got;
        std::memcpy(&got, y.data() + (oh * s.out_width + ow) * 4, 4);
        ASSERT_EQ(got, exact) << "trial " << trial << " at " << oh << "," << ow;
      }
  }
}

TEST(QDepthwise, OptimisedVariantsMatchTheReferenceBitForBit) {
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  int compared = 0;
  for (int i = 1; i < kQIsaCount; ++i) {
    const QIsa isa = static_cast<QIsa>(i);
    if (!qisa_supported(isa)) continue;
    for (int trial = 0; trial < 400; ++trial) {
      const Problem p = random_problem(rng, trial % 5 == 0, static_cast<QOutput>(trial % 3), trial % 4 != 0);
      if (!qdepthwise_supported(isa, p.s)) continue;
      ASSERT_EQ(run(isa, p), run(QIsa::Reference, p)) << qisa_name(isa) << " trial " << trial;
      ++compared;
    }
  }
  if (compared == 0) GTEST_SKIP() << "no optimised depthwise variant runs on this CPU";
}

TEST(QDepthwise, ManyChannelsPerCallEqualOneAtATime) {
  std::mt19937 rng(13);
  for (int trial = 0; trial < 20; ++trial) {
    const Problem first = random_problem(rng, false, QOutput::UInt8, true);
    std::vector<Problem> ps{first};
    for (int ch = 1; ch < 5; ++ch) {  // same shape and zero point, own data, filter and stage
      Problem p = random_problem(rng, false, QOutput::UInt8, true);
      p.s = first.s;
      p.x_zp = first.x_zp;
      p.x.resize(first.x.size());
      p.w.resize(first.w.size());
      for (auto& v : p.x) v = static_cast<uint8_t>(rng());
      for (auto& v : p.w) v = static_cast<int8_t>(rng());
      ps.push_back(p);
    }
    for (int i = 0; i < kQIsaCount; ++i) {
      const QIsa isa = static_cast<QIsa>(i);
      if (!qisa_supported(isa)) continue;
      const std::vector<uint8_t> together = run_channels(isa, ps);
      const size_t plane = static_cast<size_t>(first.s.out_height * first.s.out_width);
      for (size_t ch = 0; ch < ps.size(); ++ch) {
        const std::vector<uint8_t> alone = run(QIsa::Reference, ps[ch]);
        ASSERT_TRUE(std::equal(alone.begin(), alone.begin() + static_cast<long>(plane), together.begin() + static_cast<long>(ch * plane)))
            << qisa_name(isa) << " channel " << ch;
      }
    }
  }
}

TEST(QDepthwise, EverySupportedVariantRunsAndIsCounted) {
  std::mt19937 rng(3);
  const Problem p = random_problem(rng, false, QOutput::UInt8, true);
  for (int i = 0; i < kQIsaCount; ++i) {
    const QIsa isa = static_cast<QIsa>(i);
    if (!qisa_supported(isa) || !qdepthwise_supported(isa, p.s)) continue;
    const int64_t before = qdepthwise_calls(isa);
    run(isa, p);
    EXPECT_EQ(qdepthwise_calls(isa), before + 1) << qisa_name(isa);
  }
  EXPECT_TRUE(qdepthwise_supported(QIsa::Reference, p.s));
}

}  // namespace
}  // namespace dyad
