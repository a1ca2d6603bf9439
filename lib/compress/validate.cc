#include "lib/compress/validate.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lib/exec/executor.h"

namespace dyad {

namespace {

// Samples [begin, end) of a batch (every input sliced along its first axis).
std::map<std::string, Tensor> samples_of(const std::map<std::string, Tensor>& batch, int64_t begin, int64_t end) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : batch) out[name] = t.rank() == 0 ? t : t.rows(begin, end);
  return out;
}

double sqnr_db(double signal, double noise) {
  return noise > 0 ? 10.0 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
}

}  // namespace

bool closer_to_float(const Validation& a, const Validation& b) {
  // Flipped decisions are rare events: counts f_a and f_b differ by chance by about
  // sqrt(f_a + f_b). Only a difference beyond twice that decides; otherwise the SQNR, which every
  // output value informs, does.
  if (a.decisions > 0 && a.decisions == b.decisions) {
    const double fa = static_cast<double>(a.decisions - a.decisions_kept), fb = static_cast<double>(b.decisions - b.decisions_kept);
    if (std::abs(fa - fb) > 2.0 * std::sqrt(fa + fb)) return fa < fb;
  }
  return a.output_sqnr_db > b.output_sqnr_db;
}

Validation validate(const Model& prepared, const IntegerEmitResult& emitted, const CompressOptions& options) {
  ExecOptions exec_options;
  exec_options.threads = options.threads;
  exec_options.fuse_activations = false;
  const Executor float_exec(prepared, exec_options), int_exec(emitted.model, exec_options);
  std::map<std::string, const QuantizedTensor*> by_integer_name;
  for (const auto& t : emitted.tensors) by_integer_name[t.integer_name] = &t;
  std::map<std::string, size_t> layer_of;  // float output name -> layer index
  for (size_t i = 0; i < emitted.layers.size(); ++i) layer_of[emitted.layers[i].output] = i;
  std::vector<double> signal(emitted.layers.size(), 0.0), noise(emitted.layers.size(), 0.0);
  double out_signal = 0, out_noise = 0;

  Validation v;
  int64_t output_values = 0;
  const int64_t total_batches = static_cast<int64_t>(options.calibration.size());
  // Batch b from sample `start` on: the first batch may be split where the minimum is reached,
  // its rest then coming next if more output values are needed.
  for (size_t b = 0, start = 0; b < options.calibration.size();) {
    // Enough samples, and enough output values for the SQNR to mean something: a classifier's
    // ten logits per image need many more images than a detector's output map.
    const bool minimum_met = options.validation_samples <= 0 || v.samples >= options.validation_samples;
    if (options.validation_samples > 0 && minimum_met && output_values >= kValidationOutputValues) break;
    const Tensor& first = options.calibration[b].begin()->second;
    const int64_t n = first.rank() ? first.dim(0) : 1, begin = static_cast<int64_t>(start);
    const int64_t take = minimum_met ? n - begin : std::min(n - begin, options.validation_samples - v.samples);
    const std::map<std::string, Tensor> batch =
        take < n ? samples_of(options.calibration[b], begin, begin + take) : options.calibration[b];
    v.samples += take;
    start += static_cast<size_t>(take);
    if (static_cast<int64_t>(start) == n) ++b, start = 0;
    std::map<std::string, Tensor> reference;
    const std::vector<Tensor> float_out = float_exec.run(batch, [&](const std::string& name, const Tensor& t) {
      if (layer_of.count(name)) reference[name] = t;
    });
    const std::vector<Tensor> int_out = int_exec.run(batch, [&](const std::string& name, const Tensor& t) {
      auto q = by_integer_name.find(name);
      if (q == by_integer_name.end() || !layer_of.count(q->second->float_name)) return;
      const Tensor& ref = reference.at(q->second->float_name);
      const size_t layer = layer_of.at(q->second->float_name);
      const QuantizedTensor& qt = *q->second;
      const int64_t channels = static_cast<int64_t>(qt.channel_scales.size());
      const int64_t inner = channels && t.rank() > 1 ? t.numel() / (t.dim(0) * channels) : 1;
      // uint8, or the int32 index of a wide table (IntegerEmitOptions::table_index_bits).
      auto accumulate = [&](const auto* values) {
        for (int64_t i = 0; i < ref.numel() && i < t.numel(); ++i) {
          const double x = ref.data<float>()[i];
          const size_t c = channels ? static_cast<size_t>((i / inner) % channels) : 0;
          const double scale = channels ? qt.channel_scales[c] : qt.scale, zero_point = channels ? qt.channel_zero_points[c] : qt.zero_point;
          const double x_hat = scale * (static_cast<double>(values[i]) - zero_point);
          signal[layer] += x * x;
          noise[layer] += (x - x_hat) * (x - x_hat);
        }
      };
      if (t.dtype() == DType::Int32) accumulate(t.data<int32_t>());
      else accumulate(t.data<uint8_t>());
    });
    for (size_t o = 0; o < float_out.size() && o < int_out.size(); ++o) {
      if (float_out[o].dtype() != DType::Float32 || int_out[o].dtype() != DType::Float32) continue;
      output_values += float_out[o].numel();
      if (const Tensor& f = float_out[o]; f.rank() >= 2 && f.dim(f.rank() - 1) >= 2 && f.shape() == int_out[o].shape()) {
        const int64_t width = f.dim(f.rank() - 1);
        for (int64_t row = 0; row < f.numel() / width; ++row) {
          const float* a = f.data<float>() + row * width;
          const float* b = int_out[o].data<float>() + row * width;
          ++v.decisions;
          v.decisions_kept += std::max_element(a, a + width) - a == std::max_element(b, b + width) - b;
        }
      }
      // A layer that makes this output from its accumulators directly has its SQNR here.
      auto layer = layer_of.find(prepared.graph.outputs[o].name);
      if (layer != layer_of.end() && !emitted.layers[layer->second].float_output) layer = layer_of.end();
      for (int64_t i = 0; i < float_out[o].numel() && i < int_out[o].numel(); ++i) {
        const double x = float_out[o].data<float>()[i], x_hat = int_out[o].data<float>()[i];
        out_signal += x * x;
        out_noise += (x - x_hat) * (x - x_hat);
        if (layer != layer_of.end()) {
          signal[layer->second] += x * x;
          noise[layer->second] += (x - x_hat) * (x - x_hat);
        }
      }
    }
    if (options.progress) options.progress("validate", static_cast<int64_t>(b), total_batches);
  }
  for (size_t i = 0; i < signal.size(); ++i) v.layer_sqnr_db.push_back(sqnr_db(signal[i], noise[i]));
  v.output_sqnr_db = sqnr_db(out_signal, out_noise);
  return v;
}

}  // namespace dyad
