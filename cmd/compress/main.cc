// compress: Dyad's command line. Parses options with CLI11 and calls the library; turns every
// dyad::Error into one line on stderr and exit code 1 (2 for usage errors).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cmd/compress/commands.h"
#include "lib/ir/error.h"

namespace {

constexpr const char* kExamples = R"(
Examples:
  compress inspect model.onnx
      inputs, outputs, op counts, parameters and MACs per layer
  compress run model.onnx --input images.npy --output-dir out/
      run the float model on one input (.npy or ONNX TensorProto .pb); writes out/<output>.npy
  compress run model.onnx --input x=x.npy --input mask=mask.pb --output-dir out/
      name each input of a multi-input model
)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Dyad: post-training compression of ONNX models to integer-only ONNX", "compress"};
  app.footer(kExamples);
  app.require_subcommand(1);

  dyad::cli::InspectOptions inspect;
  auto* inspect_cmd = app.add_subcommand("inspect", "print inputs, outputs, op counts, parameters and MACs per layer");
  inspect_cmd->add_option("model", inspect.model, "ONNX model")->required();
  inspect_cmd->add_flag("--all-layers", inspect.all_layers, "list every compute layer (default: the first 40)");

  dyad::cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "run a model on inputs and write each output as DIR/<output name>.npy");
  run_cmd->add_option("model", run.model, "ONNX model")->required();
  run_cmd->add_option("--input,-i", run.inputs, "NAME=FILE (.npy or .pb); FILE alone for a single-input model")->required();
  run_cmd->add_option("--output-dir,-o", run.output_dir, "folder for the outputs")->required();
  run_cmd->add_option("--threads,-j", run.threads, "threads (default: all cores)")->check(CLI::NonNegativeNumber);

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
  try {
    if (*inspect_cmd) dyad::cli::run_inspect(inspect);
    if (*run_cmd) dyad::cli::run_run(run);
  } catch (const dyad::Error& e) {
    std::fprintf(stderr, "compress: error: %s\n", e.what());
    return e.kind() == dyad::Error::Kind::Usage ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compress: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
