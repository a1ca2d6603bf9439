#include "lib/calib/calibrate.h"

#include "lib/exec/executor.h"

namespace dyad {

CalibrationStats calibrate(const Model& model, const std::vector<std::map<std::string, Tensor>>& batches,
                           const CalibrationOptions& options) {
  ExecOptions exec_options;
  exec_options.threads = options.threads;
  exec_options.fuse_activations = false;  // observe each Conv's own output, before its activation
  const Executor executor(model, exec_options);
  CalibrationStats stats;
  const ValueObserver observe = [&](const std::string& name, const Tensor& value) {
    if (value.dtype() == DType::Float32) stats.tensors[name].observe(value);
  };
  for (const auto& batch : batches) {
    for (const auto& [name, t] : batch) observe(name, t);
    executor.run(batch, observe);
    const Tensor& first = batch.begin()->second;
    stats.samples += first.rank() ? first.dim(0) : 1;
    ++stats.batches;
    if (options.progress) options.progress(stats.batches, static_cast<int64_t>(batches.size()));
  }
  return stats;
}

}  // namespace dyad
