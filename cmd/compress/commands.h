// The subcommands of `compress`. Each parses nothing itself: main.cc wires CLI11 options into
// these structs, and each run function calls the library and prints. Errors are dyad::Error.
#pragma once
#include <string>
#include <vector>

namespace dyad::cli {

struct InspectOptions {
  std::string model;
  bool all_layers = false;
  bool nodes = false;  // list every node of the prepared graph (what compress quantizes)
};
void run_inspect(const InspectOptions& options);

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;  // NAME=FILE, or FILE alone for a single-input model
  std::string output_dir;
  int threads = 0;
  int repeat = 1;  // > 1: run this many times and print the latency (median, min)
};
void run_run(const RunOptions& options);

struct CompressCommandOptions {
  std::string model, output, budget, calib, preprocess, calib_method = "auto", report, format = "integer";
  std::vector<std::string> keep_float;
  std::string bias_correction = "auto";
  std::string per_channel_activations = "on";
  int table_index_bits = 8;
  std::string cross_layer_equalization = "auto";
  double percentile = 99.99;
  int64_t batch_size = 32, max_samples = 0;
  int threads = 0;
};
void run_compress(const CompressCommandOptions& options);

}  // namespace dyad::cli
