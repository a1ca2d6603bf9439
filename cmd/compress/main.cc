// compress: Dyad's command line. Parses options with CLI11 and calls the library; turns every
// dyad::Error into one line on stderr and exit code 1 (2 for usage errors).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cmd/compress/commands.h"
#include "lib/ir/error.h"

namespace {

constexpr const char* kExamples = R"(
Examples:
  compress model.onnx --budget bits=8 --calib calib.npy -o model.int8.onnx --report report.json
      W8A8 integer-only model (runs unmodified in ONNX Runtime) and a per-layer report
  compress resnet.onnx --budget bits=8 --calib images/ --preprocess resize=256,crop=224,mean=0.485:0.456:0.406,std=0.229:0.224:0.225 -o resnet.int8.onnx
      calibrate on a folder of PNG/JPEG images, preprocessed as torchvision's ImageNet transforms
  compress inspect model.onnx
      inputs, outputs, op counts, parameters and MACs per layer
  compress run model.onnx --input images.npy --output-dir out/
      run the float model on one input (.npy or ONNX TensorProto .pb); writes out/<output>.npy
  compress run model.onnx --input x=x.npy --input mask=mask.pb --output-dir out/
      name each input of a multi-input model
  compress run model.int8.onnx --input images.npy --output-dir out/ --repeat 100
      latency: median and fastest of 100 runs
)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Dyad: post-training compression of ONNX models to integer-only ONNX", "compress"};
  app.footer(kExamples);
  app.require_subcommand(0, 1);

  // The main form: compress MODEL --budget SPEC -o OUT.
  dyad::cli::CompressCommandOptions compress;
  app.add_option("model", compress.model, "float ONNX model to compress");
  app.add_option("--budget,-b", compress.budget, "constraints, e.g. bits=8 (W8A8; mixed precision comes later)");
  app.add_option("--output,-o", compress.output, "where to write the compressed model");
  app.add_option("--calib,-c", compress.calib,
                 "calibration inputs: .npy (first axis = samples), .npz, a test_data_set_* folder, or a folder of "
                 "PNG/JPEG images (see --preprocess); without it, synthetic inputs (with a warning)");
  app.add_option("--preprocess", compress.preprocess,
                 "for image folders, comma-separated: size=HxW | resize=S,crop=HxW | fit=HxW (keep aspect, pad right), "
                 "mean=a:b:c, std=a:b:c (pixels in [0,1]), pad=v, layout=nchw|nhwc, order=rgb|bgr");
  app.add_option("--calib-method", compress.calib_method,
                 "auto (default: tries percentile, mse and minmax, keeps the closest to float), minmax, percentile, mse or entropy")
      ->check(CLI::IsMember({"auto", "minmax", "percentile", "mse", "entropy"}));
  app.add_option("--percentile", compress.percentile, "for --calib-method percentile (default 99.99)");
  app.add_option("--batch-size", compress.batch_size, "calibration samples per batch (default 32)")->check(CLI::PositiveNumber);
  app.add_option("--max-samples", compress.max_samples, "use at most this many calibration samples")->check(CLI::NonNegativeNumber);
  app.add_option("--bias-correction", compress.bias_correction,
                 "auto (default: keep each if the outputs come closer to float), on or off: correct biases for the mean "
                 "shift weight rounding causes, then empirically for the mean shift each layer still shows against float "
                 "on the calibration samples")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--cross-layer-equalization", compress.cross_layer_equalization,
                 "auto (default: try it where layer pairs joined by Relu or MaxPool allow, keep it if the outputs come "
                 "closer to float), on or off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--per-channel-activations", compress.per_channel_activations,
                 "on (default) or off: requantize depthwise conv outputs that only elementwise tables read per "
                 "channel, with per-channel tables")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--table-index-bits", compress.table_index_bits,
                 "8 to 16: a conv or matmul output read only by elementwise functions (hard-swish, GELU, ...) indexes "
                 "their table with this many bits; the function's output is still 8-bit")
      ->check(CLI::Range(8, 16));
  app.add_option("--keep-float", compress.keep_float,
                 "leave these nodes in float (node names or op types, repeatable); they become declared float islands");
  app.add_option("--threads,-j", compress.threads, "threads (default: all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--report", compress.report, "write a JSON report: per layer bits, scales, zero points, SQNR");
  app.add_option("--format", compress.format, "integer (integer-only ONNX, default) or qdq (QuantizeLinear/DequantizeLinear)")
      ->check(CLI::IsMember({"integer", "qdq"}));

  dyad::cli::InspectOptions inspect;
  auto* inspect_cmd = app.add_subcommand("inspect", "print inputs, outputs, op counts, parameters and MACs per layer");
  inspect_cmd->add_option("model", inspect.model, "ONNX model")->required();
  inspect_cmd->add_flag("--all-layers", inspect.all_layers, "list every compute layer (default: the first 40)");
  inspect_cmd->add_flag("--nodes", inspect.nodes,
                        "list every node of the graph as compress sees it (BatchNorm and constants folded), in order");

  dyad::cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "run a model on inputs and write each output as DIR/<output name>.npy");
  run_cmd->add_option("model", run.model, "ONNX model")->required();
  run_cmd->add_option("--input,-i", run.inputs, "NAME=FILE (.npy or .pb); FILE alone for a single-input model")->required();
  run_cmd->add_option("--output-dir,-o", run.output_dir, "folder for the outputs")->required();
  run_cmd->add_option("--threads,-j", run.threads, "threads (default: all cores)")->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--repeat", run.repeat, "run N times and print the latency (median and fastest, ms); outputs are from the last run")
      ->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "compress: error: %s (see compress --help)\n", e.what());
    return 2;
  }
  const bool subcommand = *inspect_cmd || *run_cmd;
  if (!subcommand && (compress.model.empty() || compress.budget.empty() || compress.output.empty())) {
    std::fprintf(stderr, "compress: error: give a subcommand (inspect, run) or MODEL --budget SPEC -o OUT (see compress --help)\n");
    return 2;
  }
  try {
    if (*inspect_cmd) dyad::cli::run_inspect(inspect);
    if (*run_cmd) dyad::cli::run_run(run);
    if (!subcommand) dyad::cli::run_compress(compress);
  } catch (const dyad::Error& e) {
    std::fprintf(stderr, "compress: error: %s\n", e.what());
    return e.kind() == dyad::Error::Kind::Usage ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compress: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
