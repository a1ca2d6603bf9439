// Calibration data: sample inputs for a model, split into batches.
//
//   FILE.npy          one array for a single-input model; the first axis counts samples
//   FILE.npz          one array per input, named like the input; first axes count samples
//   FOLDER/           ONNX's layout: test_data_set_*/input_<i>.pb, one batch per set, inputs in
//                     the graph's order
//
// Every array is checked against the model's input: element type, rank and every known
// dimension after the first. A mismatch is an Error naming the input, what the model expects and
// what the file holds. Image folders and synthetic data arrive with the W8A8 issue.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lib/ir/graph.h"

namespace dyad {

using InputBatch = std::map<std::string, Tensor>;

struct CalibrationLoad {
  int64_t batch_size = 32;  // samples per batch (a model input with a fixed first dimension wins)
  int64_t max_samples = 0;  // 0: all
};

std::vector<InputBatch> load_calibration_batches(const std::filesystem::path& path, const Graph& graph,
                                                 const CalibrationLoad& options = {});

}  // namespace dyad
