#include "lib/calib/observer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dyad {

CalibMethod parse_calib_method(const std::string& name) {
  if (name == "minmax") return CalibMethod::MinMax;
  if (name == "percentile") return CalibMethod::Percentile;
  if (name == "mse") return CalibMethod::Mse;
  if (name == "entropy") return CalibMethod::Entropy;
  throw Error("unknown calibration method '" + name + "' (use minmax, percentile, mse or entropy)", Error::Kind::Usage);
}

const char* calib_method_name(CalibMethod method) {
  switch (method) {
    case CalibMethod::MinMax: return "minmax";
    case CalibMethod::Percentile: return "percentile";
    case CalibMethod::Mse: return "mse";
    case CalibMethod::Entropy: return "entropy";
  }
  return "?";
}

void ActivationObserver::observe(const Tensor& t) {
  if (t.dtype() != DType::Float32) fail("calibration observes float tensors, got {}", dtype_name(t.dtype()));
  observe(t.data<float>(), t.numel());
}

void ActivationObserver::observe(const float* values, int64_t count) {
  if (count >= (int64_t{1} << 32)) {  // the histogram pass counts in uint32
    for (int64_t at = 0; at < count; at += int64_t{1} << 31) observe(values + at, std::min(count - at, int64_t{1} << 31));
    return;
  }
  // Large tensors are split across threads (OpenMP): the extremes and the integer bin counts do
  // not depend on the split, so results are identical for any thread count.
  const bool parallel = count >= (int64_t{1} << 17);
  // First pass: extremes of the finite values (and the batch's max |x|).
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  int64_t finite = 0, zeros = 0;
  // simd: GCC does not vectorize a float min/max reduction on its own (the order could matter
  // with NaNs, which `ok` already excludes).
#pragma omp parallel for simd if (parallel) reduction(min : lo) reduction(max : hi) reduction(+ : finite, zeros)
  for (int64_t i = 0; i < count; ++i) {  // branch-free so that it vectorizes
    const float v = values[i];
    const bool ok = std::fabs(v) <= std::numeric_limits<float>::max();  // false for NaN and infinities
    lo = ok ? std::min(lo, v) : lo;
    hi = ok ? std::max(hi, v) : hi;
    finite += ok;
    zeros += v == 0.0f;
  }
  non_finite_ += count - finite;
  zeros_ += zeros;
  if (finite == 0) return;
  min_ = count_ == 0 ? lo : std::min(min_, lo);
  max_ = count_ == 0 ? hi : std::max(max_, hi);
  const double batch_abs = std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
  // R is a power of two strictly above every value: bin = |x| * (2048 / R) is then an exact
  // multiply, no value sits on the closed upper edge, and doubling R merges bins exactly.
  if (range_ == 0 && batch_abs > 0) range_ = std::ldexp(1.0, std::ilogb(batch_abs) + 1);
  while (range_ > 0 && batch_abs >= range_) {  // double R, merging bin pairs
    for (int b = 0; b < kBins / 2; ++b) bins_[static_cast<size_t>(b)] = bins_[static_cast<size_t>(2 * b)] + bins_[static_cast<size_t>(2 * b + 1)];
    std::fill(bins_.begin() + kBins / 2, bins_.end(), 0);
    range_ *= 2;
  }
  if (range_ == 0) {  // all zeros so far
    bins_[0] += finite;
    count_ += finite;
    return;
  }
  // kBins / R is a power of two, so the float product is exact wherever the double one was.
  const float scale = static_cast<float>(kBins / range_);
  const bool skip_non_finite = finite != count;
#pragma omp parallel if (parallel)
  {
    // Four histograms, consecutive elements counted in turn: runs of equal bins (a ReLU's
    // zeros) then increment four counters instead of waiting on one through memory, which made
    // this loop's speed depend on where the linker happened to place it (30% between two builds
    // of the same code). Counts per call stay below 2^32 (checked above).
    std::array<std::array<uint32_t, kBins>, 4> local{};
    auto bin_of = [&](float v) {
      const int b = static_cast<int>(std::fabs(v) * scale);
      return static_cast<uint16_t>(b < kBins - 1 ? b : kBins - 1);
    };
    // Bins computed a block at a time in a loop that vectorizes, then counted.
    constexpr int64_t kBlock = 1024;
    const int64_t blocks = (count + kBlock - 1) / kBlock;
    std::array<uint16_t, kBlock> bins;
#pragma omp for nowait
    for (int64_t block = 0; block < blocks; ++block) {
      const int64_t begin = block * kBlock, n = std::min(kBlock, count - begin);
      const float* v = values + begin;
      if (skip_non_finite) {
        for (int64_t i = 0; i < n; ++i)
          if (std::isfinite(v[i])) ++local[static_cast<size_t>(i & 3)][bin_of(v[i])];
        continue;
      }
      for (int64_t i = 0; i < n; ++i) bins[static_cast<size_t>(i)] = bin_of(v[i]);
      int64_t i = 0;
      for (; i + 4 <= n; i += 4) {
        ++local[0][bins[static_cast<size_t>(i)]];
        ++local[1][bins[static_cast<size_t>(i + 1)]];
        ++local[2][bins[static_cast<size_t>(i + 2)]];
        ++local[3][bins[static_cast<size_t>(i + 3)]];
      }
      for (; i < n; ++i) ++local[0][bins[static_cast<size_t>(i)]];
    }
#pragma omp critical(dyad_observer_merge)
    for (size_t b = 0; b < kBins; ++b) bins_[b] += int64_t{local[0][b]} + local[1][b] + local[2][b] + local[3][b];
  }
  count_ += finite;
}

FloatRange ActivationObserver::clip(double threshold) const {
  FloatRange r;
  r.min = std::min(0.0f, std::max(min_, static_cast<float>(-threshold)));
  r.max = std::max(0.0f, std::min(max_, static_cast<float>(threshold)));
  return r;
}

FloatRange ActivationObserver::range(CalibMethod method, double percentile) const {
  if (count_ == 0) return {};
  switch (method) {
    case CalibMethod::MinMax: return {std::min(0.0f, min_), std::max(0.0f, max_)};
    case CalibMethod::Percentile: return clip(threshold_percentile(percentile));
    case CalibMethod::Mse: return clip(threshold_mse());
    case CalibMethod::Entropy: return clip(threshold_entropy());
  }
  return {};
}

double ActivationObserver::threshold_percentile(double percentile) const {
  const double bin_width = range_ / kBins;
  const double target = static_cast<double>(count_) * std::clamp(percentile, 0.0, 100.0) / 100.0;
  double seen = 0;
  for (int b = 0; b < kBins; ++b) {
    seen += static_cast<double>(bins_[static_cast<size_t>(b)]);
    if (seen >= target) return (b + 1) * bin_width;  // the upper edge of the bin reaching the percentile
  }
  return range_;
}

double ActivationObserver::threshold_mse() const {
  // Candidate thresholds T = (i + 1) bins; each bin's values sit at its centre. Values below T
  // carry uniform rounding noise step^2 / 12 with step = T / levels; values above are clipped.
  const double bin_width = range_ / kBins;
  const double levels = min_ < 0 ? 127.5 : 255.0;  // steps across [0, T] for signed / unsigned 8-bit
  double best_error = std::numeric_limits<double>::infinity(), best = range_;
  for (int i = kBins / 32; i < kBins; ++i) {  // T from 1/32 of the range up
    const double t = (i + 1) * bin_width, step = t / levels;
    double error = 0, inside = 0;
    for (int b = 0; b < kBins; ++b) {
      const double n = static_cast<double>(bins_[static_cast<size_t>(b)]);
      if (n == 0) continue;
      const double centre = (b + 0.5) * bin_width;
      if (centre <= t) inside += n;
      else error += n * (centre - t) * (centre - t);
    }
    error += inside * step * step / 12.0;
    if (error < best_error) best_error = error, best = t;
  }
  return best;
}

double ActivationObserver::threshold_entropy() const {
  // TensorRT's calibration: for each candidate number of kept bins i, P is the histogram cut
  // at i with the tail mass added to bin i-1; Q is the cut histogram merged into `levels` groups,
  // each group's mass spread evenly over its non-empty bins; choose i minimizing KL(P || Q).
  const int levels = min_ < 0 ? 128 : 256;
  const double bin_width = range_ / kBins;
  std::array<int64_t, kBins> bins = bins_;  // without the exact zeros
  bins[0] -= zeros_;
  int last = kBins;  // ignore trailing empty bins: no candidate beyond the data
  while (last > 1 && bins[static_cast<size_t>(last - 1)] == 0) --last;
  if (last <= levels) return last * bin_width;
  std::vector<double> p(kBins), q(kBins);
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = last;
  double tail = 0;
  for (int b = levels; b < kBins; ++b) tail += static_cast<double>(bins[static_cast<size_t>(b)]);
  for (int i = levels; i <= last; ++i) {
    // tail = mass in bins [i, kBins)
    if (i > levels) tail -= static_cast<double>(bins[static_cast<size_t>(i - 1)]);
    for (int b = 0; b < i; ++b) p[static_cast<size_t>(b)] = static_cast<double>(bins[static_cast<size_t>(b)]);
    p[static_cast<size_t>(i - 1)] += tail;
    // Q: merge the cut histogram (without the tail) into `levels` groups, each group's mass
    // spread over the bins where P is non-zero (P's last bin holds the tail even where the
    // histogram's is empty; giving it no share of Q would rule out every threshold in a sparse
    // tail and push the choice far too low).
    for (int g = 0; g < levels; ++g) {
      const int start = static_cast<int>(static_cast<int64_t>(g) * i / levels), end = static_cast<int>(static_cast<int64_t>(g + 1) * i / levels);
      double mass = 0;
      int nonzero = 0;
      for (int b = start; b < end; ++b) {
        mass += static_cast<double>(bins[static_cast<size_t>(b)]);
        nonzero += p[static_cast<size_t>(b)] != 0;
      }
      for (int b = start; b < end; ++b) q[static_cast<size_t>(b)] = p[static_cast<size_t>(b)] != 0 ? mass / nonzero : 0.0;
    }
    double p_sum = 0, q_sum = 0;
    for (int b = 0; b < i; ++b) p_sum += p[static_cast<size_t>(b)], q_sum += q[static_cast<size_t>(b)];
    if (p_sum == 0 || q_sum == 0) continue;
    double kl = 0;
    for (int b = 0; b < i; ++b) {
      const double pb = p[static_cast<size_t>(b)] / p_sum;
      if (pb == 0) continue;
      const double qb = std::max(q[static_cast<size_t>(b)] / q_sum, 1e-12);  // smoothing: Q = 0 where P > 0
      kl += pb * std::log(pb / qb);
    }
    if (kl < best_kl) best_kl = kl, best_i = i;
  }
  return (best_i + 0.5) * bin_width;
}

}  // namespace dyad
