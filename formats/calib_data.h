// Calibration data: sample inputs for a model, split into batches.
//
//   FILE.npy          one array for a single-input model; the first axis counts samples
//   FILE.npz          one array per input, named like the input; first axes count samples
//   FOLDER/           ONNX's layout: test_data_set_*/input_<i>.pb, one batch per set, inputs in
//                     the graph's order
//   FOLDER/           PNG/JPEG images for a single image input, sorted by name and preprocessed
//                     as CalibrationLoad::preprocess says (formats/images/preprocess.h)
//
// Every array is checked against the model's input: element type, rank and every known
// dimension after the first. A mismatch is an Error naming the input, what the model expects and
// what the file holds.
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
  std::string preprocess;   // for image folders: the --preprocess text (may be empty)
};

std::vector<InputBatch> load_calibration_batches(const std::filesystem::path& path, const Graph& graph,
                                                 const CalibrationLoad& options = {});

// Stand-in calibration data when none is given: `samples` inputs drawn from N(0, 1) (the range
// of normalized images) for float inputs, split like real data. Deterministic for a seed.
// Needs every input dimension after the first to be known. Accuracy may suffer: callers warn.
std::vector<InputBatch> synthetic_calibration_batches(const Graph& graph, int64_t samples, const CalibrationLoad& options = {},
                                                      uint32_t seed = 0);

}  // namespace dyad
