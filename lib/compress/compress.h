// Dyad's public entry point: a float model and a budget in, an integer-only model and a report out.
//
//   dyad::Model model = dyad::load_onnx("model.onnx");
//   dyad::CompressOptions options;
//   options.budget = dyad::parse_budget("bits=8");
//   options.calibration = dyad::load_calibration_batches("calib.npy", model.graph);
//   dyad::CompressResult r = dyad::compress_model(model, options);
//   dyad::save_onnx(r.model, "model.int8.onnx", {.input_path = "model.onnx"});
//
// Steps: prepare (fold BatchNorm and constants, drop Identity), calibrate, emit integer-only ONNX
// (lib/quant/integer_onnx.h), then run the float and the integer model on the calibration set to
// measure each layer's output SQNR. Today the budget must be bits=8 (W8A8); mixed precision comes
// with a later issue, and any other budget is refused with an Error saying so.
#pragma once
#include <functional>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "lib/calib/observer.h"
#include "lib/compress/budget.h"
#include "lib/quant/integer_onnx.h"

namespace dyad {

// Bias correction: the analytic one of weight rounding (IntegerEmitOptions::bias_correction),
// then the empirical one of every remaining mean shift (correct_biases.h). Auto keeps each where
// the model's outputs on the validation samples come out closer to float with it than without;
// On applies both; Off neither.
enum class BiasCorrection { Auto, On, Off };

// Cross-layer equalization (lib/passes: equalize_cross_layer): Auto tries it as one more
// candidate where a depthwise Conv starts a layer pair it applies to, and keeps it if it comes
// closer to float; On applies it wherever it applies.
enum class CrossLayerEqualization { Auto, On, Off };

struct CompressOptions {
  Budget budget;
  std::vector<std::map<std::string, Tensor>> calibration;  // batches of named inputs
  // Activation clipping; empty (auto) tries percentile, MSE and min/max and keeps the one whose
  // outputs are closest to float on the validation samples.
  std::optional<CalibMethod> method;
  double percentile = 99.99;
  QuantFormat format = QuantFormat::IntegerOnly;
  std::set<std::string> keep_float;  // node names or op types left in float (IntegerEmitOptions)
  BiasCorrection bias_correction = BiasCorrection::Auto;
  CrossLayerEqualization cross_layer_equalization = CrossLayerEqualization::Auto;
  // Per-channel scales for Conv outputs only tables read (IntegerEmitOptions::
  // per_channel_preactivations); integer-only format.
  bool per_channel_activations = true;
  // Bits of the index of elementwise tables fed straight by a layer (IntegerEmitOptions::
  // table_index_bits); integer-only format.
  int table_index_bits = 8;
  int threads = 0;
  // Candidates and per-layer SQNR are measured on the first calibration batches holding at least
  // this many samples (0: all) and 2^16 output values (validate.h): running the integer graph
  // costs more than calibrating, and 16 images with a whole output map each estimate an SQNR to
  // a fraction of a dB, while a classifier's ten logits per image need hundreds of images.
  int64_t validation_samples = 16;
  // (stage, done, total) as work proceeds: "calibrate" and "validate" per batch.
  std::function<void(const std::string&, int64_t, int64_t)> progress;
};

struct LayerReport {
  QuantizedLayer layer;
  double sqnr_db = 0;  // output signal-to-quantization-noise ratio against float (validation samples)
};

struct CompressReport {
  std::string budget;
  QuantFormat format = QuantFormat::IntegerOnly;
  CalibMethod method = CalibMethod::Percentile;
  double percentile = 99.99;
  int64_t calibration_samples = 0, validation_samples = 0;
  double output_sqnr_db = 0;    // graph outputs against float on the validation samples
  std::string bias_correction;          // "on" or "off"
  std::vector<std::string> candidates;  // every configuration tried, with its output SQNR
  int tables = 0, activation_matmuls = 0, bias_corrected = 0;  // elementwise tables, attention products
  int64_t float_weight_bytes = 0, compressed_weight_bytes = 0;
  std::vector<LayerReport> layers;
  std::vector<std::string> float_islands;
  std::vector<std::string> passes;  // graph preparation applied
};

struct CompressResult {
  Model model;
  CompressReport report;
};

CompressResult compress_model(const Model& float_model, const CompressOptions& options);

// The report as JSON (deterministic: same inputs, same bytes).
std::string report_to_json(const CompressReport& report);

}  // namespace dyad
