// The calibration driver: runs the float executor over sample batches and feeds every float
// tensor (graph inputs and every node output) into its own ActivationObserver.
//
//   auto batches = dyad::load_calibration_batches("calib.npy", model.graph, {.batch_size = 32});
//   dyad::CalibrationStats stats = dyad::calibrate(model, batches, {.threads = 2});
//   dyad::FloatRange r = stats.tensors.at("conv1_out").range(dyad::CalibMethod::Entropy);
//
// Activations are not fused (a Conv's output is observed before its Relu), and memory stays
// bounded: observers keep histograms, not activations; the executor frees each tensor after its
// last reader.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lib/calib/observer.h"
#include "lib/ir/graph.h"

namespace dyad {

struct CalibrationOptions {
  int threads = 0;
  // Tensors whose per-channel statistics to keep as well, with the channel axis (1 for NCHW,
  // -1 for a matmul's last axis): the means of layer inputs for bias correction, the ranges of
  // conv outputs for per-channel pre-activation quantization.
  std::map<std::string, int> channel_stats;
  // Called after each batch with (batches done, batches in all); for progress display.
  std::function<void(int64_t, int64_t)> progress;
};

// Running per-channel means and ranges of one tensor over the calibration set.
struct ChannelStats {
  std::vector<double> sums;
  std::vector<float> mins, maxs;
  int64_t count = 0;  // values per channel seen
  void observe(const Tensor& t, int axis);
  std::vector<double> means() const;
};

struct CalibrationStats {
  std::map<std::string, ActivationObserver> tensors;
  std::map<std::string, ChannelStats> channel_stats;
  int64_t samples = 0, batches = 0;
};

CalibrationStats calibrate(const Model& model, const std::vector<std::map<std::string, Tensor>>& batches,
                           const CalibrationOptions& options = {});

}  // namespace dyad
