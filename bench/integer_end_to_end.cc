// End to end: Dyad's executor on the W8A8 integer-only model against ONNX Runtime on (a) the
// float model and (b) Dyad's QDQ form of the same quantization, same input and threads, one run.
//
//   integer_end_to_end [--threads N] [--repeats R] [--rounds K] [--only NAME] [--profile | --profile-nodes]
//
// Also times ORT on the integer-only model itself, for reference. Ratios below 1 mean Dyad is
// faster. The W8A8 issue's goal is "faster than both". Each system is timed K times (3 by
// default) in turn, R runs each, and reports the median of its K medians: the shared host's
// speed drifts by up to 1.8x for seconds at a time, and one block of runs per system let such a
// phase land on one of them only.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "bench/bench_util.h"
#include "formats/calib_data.h"
#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "lib/compress/compress.h"

namespace fs = std::filesystem;
using namespace dyad;
using namespace dyad::bench;

namespace {

struct Case {
  std::string name;
  fs::path model, calib, input;
  std::string preprocess;
  int64_t batch;
};

}  // namespace

int main(int argc, char** argv) {
  const BenchArgs args = parse_bench_args(argc, argv, 20);
  const int threads = args.threads, repeats = args.repeats;
  const bool profile = args.profile;
  const std::string only = args.only;
  const fs::path data = fs::path(DYAD_SOURCE_DIR) / "testdata";
  const std::vector<Case> cases = {
      {"resnet_small b1", data / "models" / "resnet_small.onnx", data / "fmnist" / "train_256.npy", data / "fmnist" / "test_64.npy", "", 1},
      {"resnet_small b64", data / "models" / "resnet_small.onnx", data / "fmnist" / "train_256.npy", data / "fmnist" / "test_64.npy", "", 64},
      {"PP-OCRv4 rec 1x3x48x320", ocr_assets() / "ch_PP-OCRv4_rec_infer.onnx", data / "ocr" / "lines" / "calib",
       data / "ocr" / "rec_lines.npy", "fit=48x320,mean=0.5,std=0.5", 1},
  };
  const fs::path tmp = fs::temp_directory_path() / ("dyad-bench-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  std::printf("W8A8 end to end, %d thread(s), median of %d rounds of %d runs each, in turn (ms); ratios are Dyad / ORT\n", threads,
              args.rounds, repeats);
  std::printf("%-26s %10s %12s %12s %12s %10s %10s\n", "case", "dyad int8", "ort float", "ort our qdq", "ort our int8",
              "vs float", "vs qdq");
  for (const Case& c : cases) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    if (!fs::exists(c.model)) {
      std::printf("%-26s skipped: %s not found\n", c.name.c_str(), c.model.c_str());
      continue;
    }
    const Model model = load_onnx(c.model);
    CompressOptions options;
    options.budget = parse_budget("bits=8");
    options.threads = threads;
    options.calibration = load_calibration_batches(c.calib, model.graph, {.batch_size = 32, .max_samples = 64, .preprocess = c.preprocess});
    const Model int8 = compress_model(model, options).model;
    options.format = QuantFormat::Qdq;
    const Model qdq = compress_model(model, options).model;
    save_onnx(int8, tmp / "int8.onnx");
    save_onnx(qdq, tmp / "qdq.onnx");
    const Tensor input = read_npy(c.input).rows(0, c.batch);
    write_npy(input, tmp / "input.npy");
    const std::string name = model.graph.inputs[0].name;
    std::vector<double> rounds[4];
    for (int round = 0; round < args.rounds; ++round) {
      rounds[0].push_back(time_ours(int8, {{name, input}}, threads, repeats, profile && round == 0, args.profile_nodes));
      rounds[1].push_back(time_ort(c.model, name, tmp / "input.npy", threads, repeats));
      rounds[2].push_back(time_ort(tmp / "qdq.onnx", name, tmp / "input.npy", threads, repeats));
      rounds[3].push_back(time_ort(tmp / "int8.onnx", name, tmp / "input.npy", threads, repeats));
    }
    const double ours = median(rounds[0]), ort_float = median(rounds[1]), ort_qdq = median(rounds[2]), ort_int8 = median(rounds[3]);
    std::printf("%-26s %10.3f %12.3f %12.3f %12.3f %9.2fx %9.2fx\n", c.name.c_str(), ours, ort_float, ort_qdq, ort_int8,
                ort_float > 0 ? ours / ort_float : 0.0, ort_qdq > 0 ? ours / ort_qdq : 0.0);
    std::fflush(stdout);
  }
  fs::remove_all(tmp);
  return 0;
}
