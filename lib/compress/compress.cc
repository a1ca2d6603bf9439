#include "lib/compress/compress.h"

#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <limits>

#include "lib/calib/calibrate.h"
#include "lib/compress/opset_upgrade.h"
#include "lib/compress/correct_biases.h"
#include "lib/compress/validate.h"
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

// Conv outputs (NCHW): per-channel ranges for per-channel pre-activation quantization.
std::map<std::string, int> conv_outputs(const Graph& g) {
  std::map<std::string, int> outputs;
  for (const Node& n : g.nodes)
    if (n.domain.empty() && n.op_type == "Conv" && !n.outputs.empty()) outputs[n.outputs[0]] = 1;
  return outputs;
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
  // Cross-layer equalization: applied up front when on; when auto, tried below as one more
  // candidate (at the cost of a second calibration) where a depthwise Conv starts a pair it
  // applies to, the case it was made for (ReLU-separated depthwise and pointwise layers).
  Model equalized = prepared;
  int depthwise_pairs = 0;
  const int equalizable =
      options.cross_layer_equalization != CrossLayerEqualization::Off ? equalize_cross_layer(equalized, &depthwise_pairs) : 0;
  if (options.cross_layer_equalization == CrossLayerEqualization::On && equalizable > 0) {
    prepared = equalized;
    result.report.passes.push_back("equalize_cross_layer");
  }
  auto calibrate_model = [&](const Model& m) {
    CalibrationOptions calib_options;
    calib_options.threads = options.threads;
    calib_options.channel_stats = conv_outputs(m.graph);
    if (options.bias_correction != BiasCorrection::Off) calib_options.channel_stats.merge(layer_inputs(m.graph));
    if (options.progress)
      calib_options.progress = [&](int64_t done, int64_t total) { options.progress("calibrate", done, total); };
    return calibrate(m, options.calibration, calib_options);
  };
  CalibrationStats stats = calibrate_model(prepared);
  // Candidates: the calibration method (given, or each of percentile, MSE and min/max) with bias
  // correction, and the best of those without it when bias correction is auto. Each is emitted
  // and measured on the validation samples; the one whose outputs come closest to float wins
  // (ties keep the earlier). Which clipping is best depends on the network more than on any one
  // tensor (README: calibration), so Dyad measures rather than guesses.
  struct Candidate {
    CalibMethod method;
    bool bias_correction;
    IntegerEmitResult emitted;
    Validation validation;
    bool equalized = false;
    bool empirically_corrected = false;
  };
  auto try_candidate_on = [&](const Model& model, const CalibrationStats& model_stats, CalibMethod method, bool bias_correction) {
    IntegerEmitOptions emit_options;
    emit_options.method = method;
    emit_options.percentile = options.percentile;
    emit_options.format = options.format;
    emit_options.keep_float = options.keep_float;
    emit_options.bias_correction = bias_correction;
    emit_options.per_channel_preactivations = options.per_channel_activations;
    emit_options.table_index_bits = options.table_index_bits;
    Candidate c{method, bias_correction, emit_integer_onnx(model, model_stats, emit_options), {}};
    c.validation = validate(model, c.emitted, options);
    return c;
  };
  auto try_candidate = [&](CalibMethod method, bool bias_correction) { return try_candidate_on(prepared, stats, method, bias_correction); };
  const std::vector<CalibMethod> methods =
      options.method ? std::vector<CalibMethod>{*options.method}
                     : std::vector<CalibMethod>{CalibMethod::Percentile, CalibMethod::Mse, CalibMethod::MinMax};
  std::vector<std::string> tried;
  auto describe = [&](const Candidate& c) {
    std::string text = fmt::format("{}{}{}{}: {:.2f} dB", calib_method_name(c.method), c.bias_correction ? "" : " without bias correction",
                                   c.equalized ? " with cross-layer equalization" : "",
                                   c.empirically_corrected ? " with empirical bias correction" : "", c.validation.output_sqnr_db);
    if (c.validation.decisions > 0) text += fmt::format(", {} of {} argmax kept", c.validation.decisions_kept, c.validation.decisions);
    tried.push_back(std::move(text));
  };
  std::optional<Candidate> best;
  for (CalibMethod m : methods) {
    Candidate c = try_candidate(m, options.bias_correction != BiasCorrection::Off);
    describe(c);
    if (!best || closer_to_float(c.validation, best->validation)) best = std::move(c);
  }
  if (options.bias_correction == BiasCorrection::Auto && best->emitted.bias_corrected > 0) {
    // Bias correction removes the mean shift of weight rounding, which helps small fan-in layers
    // (depthwise) most and can cost a little elsewhere.
    Candidate c = try_candidate(best->method, false);
    describe(c);
    if (closer_to_float(c.validation, best->validation)) best = std::move(c);
  }
  if (options.cross_layer_equalization == CrossLayerEqualization::Auto && depthwise_pairs > 0) {
    // Equalization changes every activation range it touches, so it needs its own calibration.
    CalibrationStats equalized_stats = calibrate_model(equalized);
    Candidate c = try_candidate_on(equalized, equalized_stats, best->method, best->bias_correction);
    c.equalized = true;
    describe(c);
    if (closer_to_float(c.validation, best->validation)) {
      best = std::move(c);
      prepared = std::move(equalized);
      stats = std::move(equalized_stats);
      result.report.passes.push_back("equalize_cross_layer");
    }
  }
  if (options.bias_correction != BiasCorrection::Off && options.format == QuantFormat::IntegerOnly) {
    // Empirical correction of what remains: every source of mean shift, measured layer by
    // layer on calibration samples past the validation ones where there are enough.
    Candidate c = *best;
    const int64_t first = correction_start(stats.samples, best->validation.samples);
    const int corrected = correct_biases_empirically(
        prepared, c.emitted, leading_samples(options.calibration, kEmpiricalCorrectionSamples, kEmpiricalCorrectionBytes, first),
        options.threads);
    if (corrected > 0) {
      c.validation = validate(prepared, c.emitted, options);
      c.empirically_corrected = true;
      describe(c);
      if (options.bias_correction == BiasCorrection::On || closer_to_float(c.validation, best->validation)) {
        best = std::move(c);
        result.report.passes.push_back("empirical_bias_correction");
      }
    }
  }
  IntegerEmitResult& emitted = best->emitted;
  const Validation& validation = best->validation;
  CompressReport& report = result.report;
  report.bias_correction = best->bias_correction ? "on" : "off";
  report.candidates = tried;

  report.budget = options.budget.text;
  report.format = options.format;
  report.method = best->method;
  report.percentile = options.percentile;
  report.calibration_samples = stats.samples;
  report.validation_samples = validation.samples;
  report.output_sqnr_db = validation.output_sqnr_db;
  report.tables = emitted.tables;
  report.activation_matmuls = emitted.activation_matmuls;
  report.bias_corrected = emitted.bias_corrected;
  report.float_weight_bytes = weight_bytes(prepared.graph);  // Constant nodes are initializers by now
  report.compressed_weight_bytes = weight_bytes(emitted.model.graph);
  report.float_islands = emitted.float_islands;
  for (size_t i = 0; i < emitted.layers.size(); ++i) report.layers.push_back({emitted.layers[i], validation.layer_sqnr_db[i]});
  result.model = std::move(emitted.model);
  return result;
}

}  // namespace dyad
