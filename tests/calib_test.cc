// Activation observers: exact min/max, histogram merging equal to binning from scratch, and the
// thresholds of percentile, MSE and entropy calibration on distributions whose answer is known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "lib/calib/observer.h"

namespace dyad {
namespace {

std::vector<float> evenly_spaced(int n, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(n - 1);
  return v;
}

TEST(Observer, MinMaxIsExactAndContainsZero) {
  ActivationObserver o;
  const std::vector<float> a{-1.0f, 2.0f, 0.5f};
  o.observe(a.data(), 3);
  EXPECT_EQ(o.range(CalibMethod::MinMax).min, -1.0f);
  EXPECT_EQ(o.range(CalibMethod::MinMax).max, 2.0f);
  ActivationObserver positive;
  const std::vector<float> b{1.0f, 2.0f, 3.0f};
  positive.observe(b.data(), 3);
  EXPECT_EQ(positive.range(CalibMethod::MinMax).min, 0.0f);  // widened to include 0
  EXPECT_EQ(positive.range(CalibMethod::MinMax).max, 3.0f);
}

TEST(Observer, IgnoresNonFiniteValues) {
  ActivationObserver o;
  const std::vector<float> v{1.0f, std::nanf(""), INFINITY, -2.0f};
  o.observe(v.data(), 4);
  EXPECT_EQ(o.count(), 2);
  EXPECT_EQ(o.non_finite(), 2);
  EXPECT_EQ(o.range(CalibMethod::MinMax).min, -2.0f);
}

TEST(Observer, GrowingRangeMergesBinsExactly) {
  // Batches whose max |x| grows 1 -> 3 -> 7.5: the merged histogram must equal binning every
  // value directly over the final range (floor(floor(x)/2) = floor(x/2) for x >= 0).
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d1(-1, 1), d2(0, 3), d3(-7.5f, 7.5f);
  std::vector<float> all;
  ActivationObserver o;
  for (auto* dist : {&d1, &d2, &d3}) {
    std::vector<float> batch(5000);
    for (auto& v : batch) v = (*dist)(rng);
    batch[0] = dist->b();  // make each batch reach its bound
    o.observe(batch.data(), static_cast<int64_t>(batch.size()));
    all.insert(all.end(), batch.begin(), batch.end());
  }
  const double r = o.histogram_range();
  ASSERT_GE(r, 7.5);
  std::array<int64_t, ActivationObserver::kBins> direct{};
  for (float v : all) {
    // The first batch was binned at R = 1 and merged twice; binning at R directly must agree.
    const int b = std::min(ActivationObserver::kBins - 1, static_cast<int>(std::fabs(v) * (ActivationObserver::kBins / r)));
    ++direct[static_cast<size_t>(b)];
  }
  EXPECT_EQ(o.histogram(), direct);
  EXPECT_EQ(o.count(), 15000);
}

TEST(Observer, HistogramCountsEveryValueOnce) {
  // Against direct binning: sizes that end mid-block and mid-group of four, one above the
  // threads' threshold (2^17), runs of one value (a ReLU's zeros), and non-finite values mixed
  // in (the histogram's other path).
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> d(-3, 3);
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1027}, (int64_t{1} << 17) + 3})
    for (bool with_non_finite : {false, true}) {
      std::vector<float> v(static_cast<size_t>(n));
      for (size_t i = 0; i < v.size(); ++i) v[i] = i % 5 < 2 ? 0.0f : d(rng);
      if (with_non_finite) v[v.size() / 2] = std::nanf("");
      v[0] = 3.0f;
      ActivationObserver o;
      o.observe(v.data(), n);
      const double r = o.histogram_range();
      std::array<int64_t, ActivationObserver::kBins> direct{};
      for (float x : v) {
        if (!std::isfinite(x)) continue;
        ++direct[static_cast<size_t>(std::min(ActivationObserver::kBins - 1, static_cast<int>(std::fabs(x) * (ActivationObserver::kBins / r))))];
      }
      EXPECT_EQ(o.histogram(), direct) << "n " << n << (with_non_finite ? " with a NaN" : "");
    }
}

TEST(Observer, PercentileOfEvenlySpacedValues) {
  ActivationObserver o;
  const auto v = evenly_spaced(100001, 0.0f, 1.0f);
  o.observe(v.data(), static_cast<int64_t>(v.size()));
  const double bin = o.histogram_range() / ActivationObserver::kBins;
  EXPECT_NEAR(o.range(CalibMethod::Percentile, 99.0).max, 0.99, 1.5 * bin);
  EXPECT_NEAR(o.range(CalibMethod::Percentile, 50.0).max, 0.50, 1.5 * bin);
  EXPECT_EQ(o.range(CalibMethod::Percentile, 99.0).min, 0.0f);
}

// Mean squared error of quantizing `v` on a 256-level grid over `r` (the quantity MSE minimizes).
double quantization_mse(const std::vector<float>& v, FloatRange r) {
  const double scale = (static_cast<double>(r.max) - r.min) / 255.0;
  double sum = 0;
  for (float x : v) {
    const double q = std::clamp(std::nearbyint((x - r.min) / scale), 0.0, 255.0) * scale + r.min;
    sum += (x - q) * (x - q);
  }
  return sum / static_cast<double>(v.size());
}

TEST(Observer, PercentileIgnoresARareOutlier) {
  // 100k values evenly over [0, 1] and one at 100: min/max stretches to 100, the 99.99th
  // percentile stays at the bulk's edge.
  ActivationObserver o;
  auto v = evenly_spaced(100000, 0.0f, 1.0f);
  v.push_back(100.0f);
  o.observe(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_EQ(o.range(CalibMethod::MinMax).max, 100.0f);
  EXPECT_NEAR(o.range(CalibMethod::Percentile).max, 1.0, 2 * o.histogram_range() / ActivationObserver::kBins);
}

TEST(Observer, MseRangeQuantizesHeavyTailsBetterThanMinMax) {
  // Laplace data: clipping the long tail trades a little clipping error for finer steps.
  std::mt19937 rng(4);
  std::exponential_distribution<float> e(1.0f);
  std::vector<float> v(200000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = (i % 2 ? 1.0f : -1.0f) * e(rng);
  ActivationObserver o;
  o.observe(v.data(), static_cast<int64_t>(v.size()));
  const FloatRange mse = o.range(CalibMethod::Mse), minmax = o.range(CalibMethod::MinMax);
  EXPECT_LT(mse.max, minmax.max);
  EXPECT_LT(quantization_mse(v, mse), 0.9 * quantization_mse(v, minmax));
}

TEST(Observer, MseKeepsTheFullRangeOfUniformData) {
  // Uniform data has no tail worth clipping: the best threshold is the maximum itself.
  ActivationObserver o;
  const auto v = evenly_spaced(100000, -2.0f, 2.0f);
  o.observe(v.data(), static_cast<int64_t>(v.size()));
  const FloatRange r = o.range(CalibMethod::Mse);
  EXPECT_NEAR(r.max, 2.0, 0.02);
  EXPECT_NEAR(r.min, -2.0, 0.02);
}

TEST(Observer, EntropyClipsAGaussianTail) {
  // Gaussian data: the KL threshold lies well inside max |x| but keeps the bulk (|x| < 2 sigma).
  std::mt19937 rng(9);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(200000);
  for (auto& x : v) x = d(rng);
  ActivationObserver o;
  o.observe(v.data(), static_cast<int64_t>(v.size()));
  const FloatRange r = o.range(CalibMethod::Entropy);
  EXPECT_GT(r.max, 2.0f);
  EXPECT_LT(r.max, o.max());
  EXPECT_LT(r.min, -2.0f);
}

TEST(Observer, EntropyIgnoresExactZeros) {
  // A ReLU output: half exact zeros, half exponential. The zeros are exact at any threshold, so
  // the KL threshold must be the one of the positive values alone; counted in bin 0 they made
  // every coarser merge look costly and pulled the threshold down.
  std::mt19937 rng(10);
  std::exponential_distribution<float> d(1.0f);
  std::vector<float> positive(200000), relu;
  for (auto& x : positive) x = d(rng);
  relu = positive;
  relu.resize(400000, 0.0f);
  ActivationObserver alone, with_zeros;
  alone.observe(positive.data(), static_cast<int64_t>(positive.size()));
  with_zeros.observe(relu.data(), static_cast<int64_t>(relu.size()));
  EXPECT_EQ(with_zeros.zeros(), 200000);
  EXPECT_EQ(with_zeros.range(CalibMethod::Entropy).max, alone.range(CalibMethod::Entropy).max);
  EXPECT_GT(alone.range(CalibMethod::Entropy).max, 0.5f * alone.max());
}

TEST(Observer, MethodNames) {
  EXPECT_EQ(parse_calib_method("entropy"), CalibMethod::Entropy);
  EXPECT_STREQ(calib_method_name(CalibMethod::Mse), "mse");
  EXPECT_THROW(parse_calib_method("kl"), Error);
}

}  // namespace
}  // namespace dyad
