// Empirical bias correction (what NNCF's BiasCorrection and AIMET's empirical bias correction
// do): the analytic correction (IntegerEmitOptions::bias_correction) removes the mean shift that
// rounding a layer's own weights causes; this one removes the mean shift a layer's accumulators
// show against float for any reason, including everything upstream (clipped ranges, rounded
// activations, table outputs), measured on calibration samples.
//
// One run of the integer graph does it layer by layer: when a layer's int32 accumulators are
// produced, their per-channel mean (in real units, s_x * s_w per unit) is compared with the
// float model's pre-activation mean on the same samples, the rounded difference is added to
// them at once, so every later layer is measured with the earlier ones already corrected, and
// the same integers are added to the layer's int32 bias. Layers without a bias initializer are
// left alone.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "lib/quant/integer_onnx.h"

namespace dyad {

// Corrects `emitted` (integer-only) in place against `prepared`, the float model it came from,
// on `samples` (one batch of named inputs). Returns how many layers' biases changed.
int correct_biases_empirically(const Model& prepared, IntegerEmitResult& emitted, const std::map<std::string, Tensor>& samples,
                               int threads);

// Samples compress uses: enough for a classifier's per-channel means, and few enough megabytes
// of input that one batch of PP-OCRv4 lines (184 KiB each, 22 of them) stays quick to run.
inline constexpr int64_t kEmpiricalCorrectionSamples = 512;
inline constexpr int64_t kEmpiricalCorrectionBytes = int64_t{4} << 20;

// Calibration samples from sample `first` on, concatenated into one batch: up to `max_samples`
// and `max_bytes` of input, at least one sample.
std::map<std::string, Tensor> leading_samples(const std::vector<std::map<std::string, Tensor>>& batches, int64_t max_samples,
                                              int64_t max_bytes, int64_t first = 0);

// Where the correction's samples start: after the validation ones when at least
// kEmpiricalCorrectionMinimum others remain, so that validation judges it on samples it was not
// fitted to (fitted on them, its gain there is optimistic); otherwise from the first.
inline constexpr int64_t kEmpiricalCorrectionMinimum = 16;
inline int64_t correction_start(int64_t calibration_samples, int64_t validation_samples) {
  return calibration_samples - validation_samples >= kEmpiricalCorrectionMinimum ? validation_samples : 0;
}

}  // namespace dyad
