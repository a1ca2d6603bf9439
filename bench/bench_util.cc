#include "bench/bench_util.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace dyad::bench {

namespace fs = std::filesystem;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

BenchArgs parse_bench_args(int argc, char** argv, int default_repeats) {
  BenchArgs args;
  args.repeats = default_repeats;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) args.threads = std::atoi(argv[++i]);
    else if (a == "--repeats" && i + 1 < argc) args.repeats = std::atoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc) args.only = argv[++i];
    else if (a == "--rounds" && i + 1 < argc) args.rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--profile") args.profile = true;
    else if (a == "--profile-nodes") args.profile = args.profile_nodes = true;
  }
  return args;
}

fs::path cache_dir() {
  if (const char* c = std::getenv("DYAD_CACHE")) return c;
  return fs::path(std::getenv("HOME") ? std::getenv("HOME") : "/tmp") / ".cache" / "dyad";
}

fs::path ocr_assets() { return cache_dir() / "ocr-models" / "node_modules" / "@gutenye" / "ocr-models" / "assets"; }

double time_ours(const Model& model, const std::map<std::string, Tensor>& inputs, int threads, int repeats, bool profile,
                  bool profile_nodes) {
  Executor exec(model, {.threads = threads, .profile = profile, .profile_nodes = profile_nodes});
  for (int i = 0; i < 3; ++i) exec.run(inputs);  // warm up caches and the thread pool
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    exec.run(inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  for (const OpProfile& p : exec.profile())
    std::printf("    %-40s %9.3f ms/run %6lld calls/run\n", p.op_type.c_str(), p.milliseconds / (repeats + 3),
                static_cast<long long>(p.calls / (repeats + 3)));
  return median(ms);
}

double time_ort(const fs::path& model, const std::string& input_name, const fs::path& input_file, int threads, int repeats) {
  const std::string cmd = "node '" + (fs::path(DYAD_SOURCE_DIR) / "tools" / "ort" / "ort_run.js").string() + "' '" +
                          model.string() + "' --threads " + std::to_string(threads) + " --time " +
                          std::to_string(repeats) + " '" + input_name + "=" + input_file.string() + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  char line[256];
  double ms = -1;
  while (std::fgets(line, sizeof line, pipe))
    if (std::sscanf(line, "median_ms %lf", &ms) == 1) break;
  pclose(pipe);
  return ms;
}

}  // namespace dyad::bench
