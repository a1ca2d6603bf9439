#include "lib/compress/compress.h"

#include <cmath>
#include <limits>

#include "lib/calib/calibrate.h"
#include "lib/compress/opset_upgrade.h"
#include "lib/exec/executor.h"
#include "lib/passes/passes.h"

namespace dyad {

namespace {

// Only W8A8 exists until mixed precision lands: refuse anything else with the reason.
void check_budget(const Budget& b) {
  if (b.bits && *b.bits == 8 && !b.size_fraction && !b.size_bytes && !b.bops_fraction && !b.latency_fraction) return;
  fail("budget '{}' cannot be met yet: only bits=8 (W8A8, integer-only) is implemented; size, bops, latency and other "
       "bit widths need mixed precision, which comes with a later issue",
       b.text);
}

int64_t weight_bytes(const Graph& g) {
  int64_t bytes = 0;
  for (const auto& [name, t] : g.initializers) bytes += static_cast<int64_t>(t.nbytes());
  return bytes;
}

// Runs both models on every calibration batch and returns, per layer output, the SQNR of the
// integer model's (dequantized) value against the float model's.
std::vector<double> measure_sqnr(const Model& prepared, const IntegerEmitResult& emitted, const CompressOptions& options) {
  ExecOptions exec_options;
  exec_options.threads = options.threads;
  exec_options.fuse_activations = false;
  const Executor float_exec(prepared, exec_options), int_exec(emitted.model, exec_options);
  std::map<std::string, const QuantizedTensor*> by_integer_name;
  for (const auto& t : emitted.tensors) by_integer_name[t.integer_name] = &t;
  std::map<std::string, size_t> layer_of;  // float output name -> layer index
  for (size_t i = 0; i < emitted.layers.size(); ++i) layer_of[emitted.layers[i].output] = i;
  std::vector<double> signal(emitted.layers.size(), 0.0), noise(emitted.layers.size(), 0.0);
  int64_t done = 0;
  for (const auto& batch : options.calibration) {
    std::map<std::string, Tensor> reference;
    float_exec.run(batch, [&](const std::string& name, const Tensor& v) {
      if (layer_of.count(name)) reference[name] = v;
    });
    int_exec.run(batch, [&](const std::string& name, const Tensor& v) {
      auto t = by_integer_name.find(name);
      if (t == by_integer_name.end() || !layer_of.count(t->second->float_name)) return;
      const Tensor& ref = reference.at(t->second->float_name);
      const size_t layer = layer_of.at(t->second->float_name);
      for (int64_t i = 0; i < ref.numel() && i < v.numel(); ++i) {
        const double x = ref.data<float>()[i];
        const double x_hat = t->second->scale * (static_cast<double>(v.data<uint8_t>()[i]) - t->second->zero_point);
        signal[layer] += x * x;
        noise[layer] += (x - x_hat) * (x - x_hat);
      }
    });
    if (options.progress) options.progress("validate", ++done, static_cast<int64_t>(options.calibration.size()));
  }
  std::vector<double> sqnr;
  for (size_t i = 0; i < signal.size(); ++i)
    sqnr.push_back(noise[i] > 0 ? 10.0 * std::log10(signal[i] / noise[i]) : std::numeric_limits<double>::infinity());
  return sqnr;
}

}  // namespace

CompressResult compress_model(const Model& float_model, const CompressOptions& options) {
  check_budget(options.budget);
  if (options.calibration.empty())
    fail("no calibration data: pass --calib with sample inputs (synthetic calibration data is not implemented yet)");
  Model prepared = float_model;
  CompressResult result;
  result.report.passes = prepare_graph(prepared);
  upgrade_to_emit_opset(prepared, options.calibration.front(), options.threads);
  CalibrationOptions calib_options;
  calib_options.threads = options.threads;
  if (options.progress)
    calib_options.progress = [&](int64_t done, int64_t total) { options.progress("calibrate", done, total); };
  const CalibrationStats stats = calibrate(prepared, options.calibration, calib_options);
  IntegerEmitOptions emit_options;
  emit_options.method = options.method;
  emit_options.percentile = options.percentile;
  emit_options.format = options.format;
  IntegerEmitResult emitted = emit_integer_onnx(prepared, stats, emit_options);
  const std::vector<double> sqnr = measure_sqnr(prepared, emitted, options);

  CompressReport& report = result.report;
  report.budget = options.budget.text;
  report.format = options.format;
  report.method = options.method;
  report.percentile = options.percentile;
  report.calibration_samples = stats.samples;
  report.float_weight_bytes = weight_bytes(float_model.graph);
  report.compressed_weight_bytes = weight_bytes(emitted.model.graph);
  report.float_islands = emitted.float_islands;
  for (size_t i = 0; i < emitted.layers.size(); ++i) report.layers.push_back({emitted.layers[i], sqnr[i]});
  result.model = std::move(emitted.model);
  return result;
}

}  // namespace dyad
