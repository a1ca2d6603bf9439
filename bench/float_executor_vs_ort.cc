// Float executor latency against ONNX Runtime (onnxruntime-node 1.30, CPU, optimization level
// all) on the same model, input, thread count and machine, measured in one run.
//
//   float_executor_vs_ort [--threads N] [--repeats R] [--only NAME]
//
// For each case it prints our median, ORT's median (from tools/ort/ort_run.js --time, which
// times session.run inside Node and so includes a few µs of binding overhead per call) and the
// ratio ours / ORT. Both sides optimise the graph first (our prepare_graph; ORT level "all"). The foundation issue's goal is a ratio of at most 1.5.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "lib/exec/executor.h"
#include "lib/passes/passes.h"
#include "bench/bench_util.h"

namespace fs = std::filesystem;
using namespace dyad;
using namespace dyad::bench;

namespace {

struct Case {
  std::string name;
  fs::path model, input;
  int64_t batch;  // first rows of the input file to use
};

}  // namespace

int main(int argc, char** argv) {
  const BenchArgs args = parse_bench_args(argc, argv, 30);
  const int threads = args.threads, repeats = args.repeats;
  const std::string only = args.only;
  const fs::path data = fs::path(DYAD_SOURCE_DIR) / "testdata";
  const fs::path ocr = ocr_assets();
  const std::vector<Case> cases = {
      {"resnet_small b1", data / "models" / "resnet_small.onnx", data / "fmnist" / "test_64.npy", 1},
      {"resnet_small b64", data / "models" / "resnet_small.onnx", data / "fmnist" / "test_64.npy", 64},
      {"vit_tiny b1", data / "models" / "vit_tiny.onnx", data / "fmnist" / "test_64.npy", 1},
      {"vit_tiny b64", data / "models" / "vit_tiny.onnx", data / "fmnist" / "test_64.npy", 64},
      {"PP-OCRv4 rec 1x3x48x320", ocr / "ch_PP-OCRv4_rec_infer.onnx", data / "ocr" / "rec_lines.npy", 1},
      {"PP-OCRv4 det 1x3x320x320", ocr / "ch_PP-OCRv4_det_infer.onnx", data / "ocr" / "det_page.npy", 1},
  };
  const fs::path tmp = fs::temp_directory_path() / ("dyad-bench-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  std::printf("float executor vs ONNX Runtime 1.30 (CPU EP), %d thread(s), median of %d runs\n", threads, repeats);
  std::printf("%-28s %12s %12s %10s\n", "case", "dyad ms", "ort ms", "dyad/ort");
  for (const Case& c : cases) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    if (!fs::exists(c.model)) {
      std::printf("%-28s skipped: %s not found\n", c.name.c_str(), c.model.c_str());
      continue;
    }
    // ORT folds BatchNorm and constants when it creates the session (level "all"); do the same.
    Model model = load_onnx(c.model);
    prepare_graph(model);
    const Tensor input = read_npy(c.input).rows(0, c.batch);
    const fs::path input_file = tmp / "input.npy";
    write_npy(input, input_file);
    const std::string input_name = model.graph.inputs[0].name;
    const double ours = time_ours(model, {{input_name, input}}, threads, repeats, args.profile);
    const double ort = time_ort(c.model, input_name, input_file, threads, repeats);
    std::printf("%-28s %12.3f %12.3f %9.2fx\n", c.name.c_str(), ours, ort, ort > 0 ? ours / ort : 0.0);
    std::fflush(stdout);
  }
  fs::remove_all(tmp);
  return 0;
}
