#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <limits>

#include "cmd/compress/commands.h"
#include "formats/calib_data.h"
#include "formats/onnx/atomic_file.h"
#include "formats/onnx/onnx_io.h"
#include "lib/compress/compress.h"

namespace dyad::cli {

namespace fs = std::filesystem;

void run_compress(const CompressCommandOptions& o) {
  // Everything that can be checked before any work is checked first, so a mistake costs nothing.
  refuse_overwrite(o.output, o.model);
  if (!o.report.empty()) refuse_overwrite(o.report, o.model);
  CompressOptions options;
  options.budget = parse_budget(o.budget);
  if (o.calib_method != "auto") options.method = parse_calib_method(o.calib_method);
  options.percentile = o.percentile;
  options.format = o.format == "qdq" ? QuantFormat::Qdq : QuantFormat::IntegerOnly;
  options.keep_float = {o.keep_float.begin(), o.keep_float.end()};
  options.per_channel_activations = o.per_channel_activations == "on";
  options.table_index_bits = o.table_index_bits;
  options.cross_layer_equalization = o.cross_layer_equalization == "on"    ? CrossLayerEqualization::On
                                     : o.cross_layer_equalization == "off" ? CrossLayerEqualization::Off
                                                                           : CrossLayerEqualization::Auto;
  options.bias_correction = o.bias_correction == "on" ? BiasCorrection::On : (o.bias_correction == "off" ? BiasCorrection::Off : BiasCorrection::Auto);
  options.threads = o.threads;
  if (!(o.percentile > 0 && o.percentile <= 100))
    throw Error(fmt::format("--percentile {} is outside (0, 100]", o.percentile), Error::Kind::Usage);
  const Model model = load_onnx(o.model);
  if (o.calib.empty()) {
    const int64_t samples = o.max_samples > 0 ? o.max_samples : 256;
    options.calibration = synthetic_calibration_batches(model.graph, samples, {.batch_size = o.batch_size, .max_samples = 0, .preprocess = {}});
    std::fprintf(stderr, "compress: warning: no --calib given; calibrating on %lld synthetic N(0,1) inputs, accuracy may suffer\n",
                 static_cast<long long>(samples));
  } else {
    options.calibration = load_calibration_batches(o.calib, model.graph, {.batch_size = o.batch_size, .max_samples = o.max_samples, .preprocess = o.preprocess});
  }
  // On a terminal one line per stage counts up in place; in a log, one line per finished stage.
  const bool terminal = isatty(fileno(stdout));
  options.progress = [terminal](const std::string& stage, int64_t done, int64_t total) {
    if (!terminal && done < total) return;
    std::printf("%s%s: batch %lld of %lld%s", terminal ? "\r" : "", stage.c_str(), static_cast<long long>(done),
                static_cast<long long>(total), !terminal || done == total ? "\n" : "");
    std::fflush(stdout);
  };
  const CompressResult result = compress_model(model, options);
  SaveOptions save;
  save.input_path = o.model;
  save_onnx(result.model, o.output, save);
  if (!o.report.empty()) {
    AtomicFile report(o.report);
    report.write(report_to_json(result.report));
    report.commit();
  }
  const CompressReport& r = result.report;
  double worst = std::numeric_limits<double>::infinity();
  std::string worst_layer;
  for (const auto& l : r.layers)
    if (l.sqnr_db < worst) worst = l.sqnr_db, worst_layer = l.layer.node;
  const char* form = o.format == "qdq" ? "in QDQ form" : "integer-only";
  std::printf("%s: %zu layers W8A8 %s, %zu float islands; weights %.1f KiB -> %.1f KiB; output SQNR %.1f dB, lowest layer "
              "%.1f dB (%s); bias correction %s\n",
              o.output.c_str(), r.layers.size(), form, r.float_islands.size(), static_cast<double>(r.float_weight_bytes) / 1024,
              static_cast<double>(r.compressed_weight_bytes) / 1024, r.output_sqnr_db, worst, worst_layer.c_str(), r.bias_correction.c_str());
}

}  // namespace dyad::cli
