#include "lib/calib/calibrate.h"

#include <algorithm>
#include <limits>

#include "lib/exec/executor.h"

namespace dyad {

void ChannelStats::observe(const Tensor& t, int axis) {
  if (t.rank() == 0) return;
  const int a = axis < 0 ? axis + t.rank() : axis;
  const int64_t channels = t.dim(a);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < a; ++d) outer *= t.dim(d);
  for (int d = a + 1; d < t.rank(); ++d) inner *= t.dim(d);
  if (sums.empty()) {
    sums.assign(static_cast<size_t>(channels), 0.0);
    mins.assign(static_cast<size_t>(channels), std::numeric_limits<float>::infinity());
    maxs.assign(static_cast<size_t>(channels), -std::numeric_limits<float>::infinity());
  }
  if (static_cast<int64_t>(sums.size()) != channels) return;  // shape changed: keep the first
  const float* x = t.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      double s = 0;
      float lo = mins[static_cast<size_t>(c)], hi = maxs[static_cast<size_t>(c)];
      const float* row = x + (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        s += row[i];
        lo = std::min(lo, row[i]);
        hi = std::max(hi, row[i]);
      }
      sums[static_cast<size_t>(c)] += s;
      mins[static_cast<size_t>(c)] = lo;
      maxs[static_cast<size_t>(c)] = hi;
    }
  count += outer * inner;
}

std::vector<double> ChannelStats::means() const {
  std::vector<double> m(sums.size(), 0.0);
  for (size_t c = 0; c < sums.size(); ++c) m[c] = count ? sums[c] / static_cast<double>(count) : 0.0;
  return m;
}

CalibrationStats calibrate(const Model& model, const std::vector<std::map<std::string, Tensor>>& batches,
                           const CalibrationOptions& options) {
  ExecOptions exec_options;
  exec_options.threads = options.threads;
  exec_options.fuse_activations = false;  // observe each Conv's own output, before its activation
  const Executor executor(model, exec_options);
  CalibrationStats stats;
  const ValueObserver observe = [&](const std::string& name, const Tensor& value) {
    if (value.dtype() != DType::Float32) return;
    stats.tensors[name].observe(value);
    if (auto it = options.channel_stats.find(name); it != options.channel_stats.end())
      stats.channel_stats[name].observe(value, it->second);
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
