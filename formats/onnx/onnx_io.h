// Loading and saving ONNX models.
//
//   dyad::Model m = dyad::load_onnx("model.onnx");      // parse, resolve external data, check, infer shapes
//   dyad::save_onnx(m, "out.onnx", {.input_path = "model.onnx"});
//
// Errors are dyad::Error with a one-line message naming the file and the problem.
#pragma once
#include <filesystem>

#include "lib/ir/graph.h"

namespace dyad {

struct LoadOptions {
  bool check = true;         // run ONNX's checker (skipped for IR/opset newer than libonnx knows)
  bool infer_shapes = true;  // fill value_info with ONNX shape inference
};

Model load_onnx(const std::filesystem::path& path, const LoadOptions& options = {});
Model load_onnx_from_bytes(const std::string& bytes, const std::filesystem::path& model_dir,
                           const std::string& label, const LoadOptions& options = {});

struct SaveOptions {
  // The model the output was made from: saving refuses to write over it.
  std::filesystem::path input_path;
  // When the initializers add up to more than external_threshold_bytes (default 1.5 GiB, leaving
  // headroom under protobuf's 2 GB message limit), or always with force_external_data, every
  // initializer of at least external_min_bytes goes to "<output>.data" beside the model.
  size_t external_threshold_bytes = (size_t{3} << 30) / 2;
  size_t external_min_bytes = 1024;
  bool force_external_data = false;
};

// Writes atomically (temporary file + rename): on error nothing is left at `path`.
void save_onnx(const Model& model, const std::filesystem::path& path, const SaveOptions& options = {});
std::string serialize_onnx(const Model& model);

// Re-runs ONNX shape inference on the model's current graph and replaces value_info (and
// fills unknown output shapes).
void infer_shapes(Model& model);

// Converts the default-domain opset to `target` (ONNX's own version converter), so that nodes
// copied into a graph of that opset keep their meaning: opset 9's attribute-form Slice, Squeeze,
// Clip or Softmax's 2-D coercion differ from opset 17's. A model already at `target` is left as
// is; a failure names the op the converter could not adapt.
void upgrade_opset(Model& model, int64_t target);

}  // namespace dyad
