// Timing helpers the benchmarks share: our executor and ONNX Runtime (through
// tools/ort/ort_run.js --time) on the same model, input and thread count, medians in ms.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lib/exec/executor.h"

namespace dyad::bench {

// The options every latency benchmark takes: --threads N --repeats R --only NAME --profile.
struct BenchArgs {
  int threads = 2, repeats = 30;
  int rounds = 3;     // --rounds: times each system is measured, in turn
  std::string only;  // run only cases whose name contains this
  bool profile = false, profile_nodes = false;  // --profile, --profile-nodes
};
BenchArgs parse_bench_args(int argc, char** argv, int default_repeats);

double median(std::vector<double> v);  // the upper median of a non-empty sample
std::filesystem::path cache_dir();  // DYAD_CACHE or ~/.cache/dyad
std::filesystem::path ocr_assets();  // the PP-OCRv4 models under cache_dir()
// Median ms of `repeats` runs after 3 warm-up runs; with `profile`, prints per-op times too.
double time_ours(const Model& model, const std::map<std::string, Tensor>& inputs, int threads, int repeats, bool profile = false,
                 bool profile_nodes = false);
// Median ms reported by ORT for the model file on the single input in `input_file`; -1 on failure.
double time_ort(const std::filesystem::path& model, const std::string& input_name, const std::filesystem::path& input_file,
                int threads, int repeats);

}  // namespace dyad::bench
