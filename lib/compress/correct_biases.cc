#include "lib/compress/correct_biases.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lib/exec/executor.h"

namespace dyad {

namespace {

// Per-channel sums of a tensor whose channels are axis 1 ([N, C, ...]) or the last axis.
struct ChannelSums {
  std::vector<double> sum;
  int64_t per_channel = 0;  // values summed into each channel
};

// The layout as (outer, channels, inner) runs: channels last has inner = 1.
struct ChannelLayout {
  int64_t outer = 0, inner = 0;
};
ChannelLayout layout_of(const Shape& shape, bool channels_last, int64_t channels) {
  const int64_t n = shape_numel(shape);
  if (channels_last) return {n / channels, 1};
  return {shape[0], n / (shape[0] * channels)};
}

template <typename T>
ChannelSums channel_sums(const T* data, const Shape& shape, bool channels_last, int64_t channels) {
  ChannelSums s;
  s.sum.assign(static_cast<size_t>(channels), 0.0);
  const int64_t n = shape_numel(shape);
  if (channels <= 0 || n % channels) return s;
  s.per_channel = n / channels;
  const ChannelLayout l = layout_of(shape, channels_last, channels);
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const T* run = data + (o * channels + c) * l.inner;
      double sum = 0;  // exact for int32 runs below 2^21 values; float runs sum in double
      for (int64_t i = 0; i < l.inner; ++i) sum += static_cast<double>(run[i]);
      s.sum[static_cast<size_t>(c)] += sum;
    }
  return s;
}

bool shape_fits(const Shape& shape, bool channels_last, int64_t channels) {
  if (shape.empty()) return false;
  return channels_last ? shape.back() == channels : shape.size() >= 2 && shape[1] == channels;
}

}  // namespace

std::map<std::string, Tensor> leading_samples(const std::vector<std::map<std::string, Tensor>>& batches, int64_t max_samples,
                                              int64_t max_bytes, int64_t first) {
  if (batches.empty()) return {};
  // How many samples: whole rows of every input, within both limits.
  int64_t bytes_per_sample = 0, available = 0;
  for (const auto& [name, t] : batches.front())
    if (t.rank() > 0 && t.dim(0) > 0) bytes_per_sample += static_cast<int64_t>(t.nbytes()) / t.dim(0);
  for (const auto& batch : batches) {
    const Tensor& t = batch.begin()->second;
    available += t.rank() ? t.dim(0) : 1;
  }
  first = std::clamp<int64_t>(first, 0, available - 1);
  int64_t count = std::min(available - first, max_samples);
  if (bytes_per_sample > 0) count = std::min(count, std::max<int64_t>(1, max_bytes / bytes_per_sample));
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : batches.front()) {
    if (t.rank() == 0) {
      out[name] = t;
      continue;
    }
    Shape shape = t.shape();
    shape[0] = count;
    Tensor joined = Tensor::uninitialized(t.dtype(), shape);
    const size_t row_bytes = t.nbytes() / static_cast<size_t>(t.dim(0));
    int64_t skipped = 0, filled = 0;
    for (const auto& batch : batches) {
      if (filled == count) break;
      const Tensor& part = batch.at(name);
      const int64_t from = std::min(part.dim(0), first - skipped);  // rows of this batch before `first`
      skipped += from;
      const int64_t take = std::min(part.dim(0) - from, count - filled);
      if (take <= 0) continue;
      std::memcpy(joined.raw() + static_cast<size_t>(filled) * row_bytes, part.raw() + static_cast<size_t>(from) * row_bytes,
                  static_cast<size_t>(take) * row_bytes);
      filled += take;
    }
    out[name] = std::move(joined);
  }
  return out;
}

int correct_biases_empirically(const Model& prepared, IntegerEmitResult& emitted, const std::map<std::string, Tensor>& samples,
                               int threads) {
  // The float model's pre-activation means, per channel.
  std::map<std::string, const QuantizedLayer*> by_preactivation, by_accumulator;
  for (const QuantizedLayer& l : emitted.layers) {
    if (l.bias_initializer.empty() || l.accumulator.empty() || !emitted.model.graph.initializers.count(l.bias_initializer)) continue;
    by_preactivation[l.preactivation] = &l;
    by_accumulator[l.accumulator] = &l;
  }
  if (by_accumulator.empty()) return 0;
  std::map<std::string, std::vector<double>> float_means;  // by preactivation name
  {
    ExecOptions options;
    options.threads = threads;
    options.fuse_activations = false;  // the pre-activation values must exist
    Executor(prepared, options).run(samples, [&](const std::string& name, const Tensor& t) {
      auto it = by_preactivation.find(name);
      if (it == by_preactivation.end() || t.dtype() != DType::Float32) return;
      const QuantizedLayer& l = *it->second;
      const int64_t channels = static_cast<int64_t>(l.accumulator_scales.size());
      if (!shape_fits(t.shape(), l.channels_last, channels)) return;
      const ChannelSums s = channel_sums(t.data<float>(), t.shape(), l.channels_last, channels);
      if (s.per_channel == 0) return;
      std::vector<double> mean(s.sum.size());
      for (size_t c = 0; c < mean.size(); ++c) mean[c] = s.sum[c] / static_cast<double>(s.per_channel);
      float_means[name] = std::move(mean);
    });
  }

  // The integer graph, unfused so that the accumulators exist, correcting each as it appears.
  std::map<std::string, std::vector<int64_t>> shifts;  // by bias initializer
  ExecOptions options;
  options.threads = threads;
  options.fuse_integer = false;
  Executor(emitted.model, options).run_rewriting(samples, [&](const std::string& name, Tensor& t) {
    auto it = by_accumulator.find(name);
    if (it == by_accumulator.end() || t.dtype() != DType::Int32) return;
    const QuantizedLayer& l = *it->second;
    auto reference = float_means.find(l.preactivation);
    const int64_t channels = static_cast<int64_t>(l.accumulator_scales.size());
    if (reference == float_means.end() || !shape_fits(t.shape(), l.channels_last, channels)) return;
    const ChannelSums s = channel_sums(t.data<int32_t>(), t.shape(), l.channels_last, channels);
    if (s.per_channel == 0) return;
    std::vector<int64_t> shift(static_cast<size_t>(channels), 0);
    bool any = false;
    for (size_t c = 0; c < shift.size(); ++c) {
      const double integer_mean = s.sum[c] / static_cast<double>(s.per_channel) * l.accumulator_scales[c];
      const double units = (reference->second[c] - integer_mean) / l.accumulator_scales[c];
      // Small enough that the corrected bias stays inside int32 for any sane layer.
      shift[c] = static_cast<int64_t>(std::clamp(std::nearbyint(units), -1e9, 1e9));
      any = any || shift[c] != 0;
    }
    if (!any) return;
    // Add the shift now, wrapping as the graph's int32 Add of the corrected bias will: the
    // layers after this one see what the corrected graph computes.
    t.make_unique_storage();
    int32_t* data = t.data<int32_t>();
    const ChannelLayout layout = layout_of(t.shape(), l.channels_last, channels);
    for (int64_t o = 0; o < layout.outer; ++o)
      for (int64_t c = 0; c < channels; ++c) {
        uint32_t* run = reinterpret_cast<uint32_t*>(data + (o * channels + c) * layout.inner);
        const uint32_t add = static_cast<uint32_t>(shift[static_cast<size_t>(c)]);
        for (int64_t i = 0; i < layout.inner; ++i) run[i] += add;
      }
    shifts[l.bias_initializer] = std::move(shift);
  });

  for (const auto& [bias_name, shift] : shifts) {
    Tensor& bias = emitted.model.graph.initializers.at(bias_name);
    bias.make_unique_storage();  // a copied model shares its initializers' storage
    int32_t* b = bias.data<int32_t>();
    for (int64_t c = 0; c < bias.numel(); ++c) {
      const int64_t v = static_cast<int64_t>(b[c]) + shift[static_cast<size_t>(bias.numel() == 1 ? 0 : c)];
      b[c] = static_cast<int32_t>(std::clamp<int64_t>(v, INT32_MIN, INT32_MAX));
    }
  }
  return static_cast<int>(shifts.size());
}

}  // namespace dyad
