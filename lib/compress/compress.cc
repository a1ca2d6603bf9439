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
std::vector<double> measure_sqnr(const Model& prepared, const IntegerEmitResult& emitted, const CompressOptions& options,
                                 int64_t& samples) {
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
  size_t batches = 0;
  samples = 0;
  while (batches < options.calibration.size() && (options.validation_samples <= 0 || samples < options.validation_samples)) {
    const Tensor& first = options.calibration[batches++].begin()->second;
    samples += first.rank() ? first.dim(0) : 1;
  }
  for (size_t b = 0; b < batches; ++b) {
    const auto& batch = options.calibration[b];
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
    if (options.progress) options.progress("validate", ++done, static_cast<int64_t>(batches));
  }
  std::vector<double> sqnr;
  for (size_t i = 0; i < signal.size(); ++i)
    sqnr.push_back(noise[i] > 0 ? 10.0 * std::log10(signal[i] / noise[i]) : std::numeric_limits<double>::infinity());
  return sqnr;
}

// The inputs of layers with constant weights, with their channel axis: bias correction needs
// their per-channel means.
std::map<std::string, int> layer_inputs(const Graph& g) {
  std::map<std::string, int> inputs;
  for (const Node& n : g.nodes) {
    if (!n.domain.empty() || n.inputs.size() < 2 || !g.initializers.count(n.inputs[1])) continue;
    if (n.op_type == "Conv") inputs[n.inputs[0]] = 1;
    else if (n.op_type == "MatMul" || (n.op_type == "Gemm" && n.get_int("transA", 0) == 0)) inputs[n.inputs[0]] = -1;
  }
  return inputs;
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
  if (options.bias_correction) calib_options.channel_means = layer_inputs(prepared.graph);
  if (options.progress)
    calib_options.progress = [&](int64_t done, int64_t total) { options.progress("calibrate", done, total); };
  const CalibrationStats stats = calibrate(prepared, options.calibration, calib_options);
  IntegerEmitOptions emit_options;
  emit_options.method = options.method;
  emit_options.percentile = options.percentile;
  emit_options.format = options.format;
  emit_options.keep_float = options.keep_float;
  emit_options.bias_correction = options.bias_correction;
  IntegerEmitResult emitted = emit_integer_onnx(prepared, stats, emit_options);
  int64_t validation_samples = 0;
  const std::vector<double> sqnr = measure_sqnr(prepared, emitted, options, validation_samples);

  CompressReport& report = result.report;
  report.budget = options.budget.text;
  report.format = options.format;
  report.method = options.method;
  report.percentile = options.percentile;
  report.calibration_samples = stats.samples;
  report.validation_samples = validation_samples;
  report.tables = emitted.tables;
  report.activation_matmuls = emitted.activation_matmuls;
  report.bias_corrected = emitted.bias_corrected;
  report.float_weight_bytes = weight_bytes(prepared.graph);  // Constant nodes are initializers by now
  report.compressed_weight_bytes = weight_bytes(emitted.model.graph);
  report.float_islands = emitted.float_islands;
  for (size_t i = 0; i < emitted.layers.size(); ++i) report.layers.push_back({emitted.layers[i], sqnr[i]});
  result.model = std::move(emitted.model);
  return result;
}

}  // namespace dyad
