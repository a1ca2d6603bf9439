// Activation statistics for calibration, with memory bounded per tensor (no stored activations).
//
// An observer sees every value of one tensor over the calibration set and keeps its exact
// min/max and a 2048-bin histogram of |x| over [0, R). R is the smallest power of two above the
// first batch's max |x| and doubles when a later value reaches it, merging bin pairs, so counts
// are never re-estimated.
// From these it proposes a clipping range by one of four methods:
//
//   MinMax      exact [min, max]
//   Percentile  |x| threshold T at the p-th percentile (default 99.99), range [max(min, -T), min(max, T)]
//   Mse         T minimizing the expected squared quantization error over the histogram
//               (rounding noise step^2/12 inside, clipping error outside), 8-bit grid
//   Entropy     TensorRT's KL-divergence threshold on the |x| histogram (128 levels if the tensor
//               has negative values, 256 if not), exact zeros left out (pytorch-quantization's
//               skip_zeros): after a ReLU they are a spike in bin 0 that every merge into fewer
//               levels smears, which made KL prefer thresholds a third of the range or less)
//
// Ranges always contain 0 so that real zero is exactly representable (zero padding, ReLU).
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "lib/ir/tensor.h"

namespace dyad {

enum class CalibMethod { MinMax, Percentile, Mse, Entropy };
// "minmax", "percentile", "mse", "entropy"; throws Error (Usage) for anything else.
CalibMethod parse_calib_method(const std::string& name);
const char* calib_method_name(CalibMethod method);

struct FloatRange {
  float min = 0, max = 0;
};

class ActivationObserver {
 public:
  static constexpr int kBins = 2048;

  // Float32 tensors only; NaN and infinities are ignored (and counted).
  void observe(const Tensor& t);
  void observe(const float* values, int64_t count);

  FloatRange range(CalibMethod method, double percentile = 99.99) const;

  int64_t count() const { return count_; }
  int64_t non_finite() const { return non_finite_; }
  int64_t zeros() const { return zeros_; }  // values exactly 0 (counted in bin 0 too)
  float min() const { return min_; }
  float max() const { return max_; }
  double histogram_range() const { return range_; }  // R
  const std::array<int64_t, kBins>& histogram() const { return bins_; }

 private:
  double threshold_percentile(double percentile) const;
  double threshold_mse() const;
  double threshold_entropy() const;
  FloatRange clip(double threshold) const;

  int64_t count_ = 0, non_finite_ = 0, zeros_ = 0;
  float min_ = 0, max_ = 0;
  double range_ = 0;  // R: the histogram covers |x| in [0, R]
  std::array<int64_t, kBins> bins_{};
};

}  // namespace dyad
