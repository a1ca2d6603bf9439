#include "formats/calib_data.h"

#include <algorithm>
#include <random>

#include "formats/images/image_folder.h"
#include "formats/tensor_io/npy.h"
#include "formats/tensor_io/npz.h"
#include "formats/tensor_io/tensor_pb.h"

namespace dyad {

namespace fs = std::filesystem;

namespace {

std::string expected_shape(const ValueInfo& input, bool samples_first) {
  std::string s = "[";
  for (size_t d = 0; d < input.dims.size(); ++d) {
    if (d) s += ",";
    if (d == 0 && samples_first) s += "N";
    else s += input.dims[d].known() ? std::to_string(input.dims[d].value) : (input.dims[d].param.empty() ? "?" : input.dims[d].param);
  }
  return s + "]";
}

// Checks one array against the model's input; with samples_first the first axis is free.
void check_against_input(const Tensor& t, const ValueInfo& input, bool samples_first, const std::string& source) {
  bool ok = input.dtype == DType::Undefined || t.dtype() == input.dtype;
  if (input.has_shape) {
    ok = ok && static_cast<size_t>(t.rank()) == input.dims.size();
    for (size_t d = samples_first ? 1 : 0; ok && d < input.dims.size(); ++d)
      ok = !input.dims[d].known() || input.dims[d].value == t.dim(static_cast<int>(d));
  }
  if (!ok)
    fail("calibration data for input '{}': expected {} {}{}, got {} {} in {}", input.name, dtype_name(input.dtype),
         expected_shape(input, samples_first), samples_first ? " (N samples)" : "", dtype_name(t.dtype()),
         shape_to_string(t.shape()), source);
}

std::vector<InputBatch> split(const std::map<std::string, Tensor>& arrays, const Graph& graph, const CalibrationLoad& options,
                              const std::string& source) {
  int64_t samples = -1, batch = options.batch_size;
  bool fixed_batch = false;  // a model input with a fixed first dimension takes only full batches
  for (const auto& input : graph.inputs) {
    const Tensor& t = arrays.at(input.name);
    check_against_input(t, input, true, source);
    if (t.rank() == 0) fail("calibration data for input '{}' in {} has no sample axis", input.name, source);
    if (samples >= 0 && t.dim(0) != samples)
      fail("calibration data in {}: input '{}' has {} samples, others have {}", source, input.name, t.dim(0), samples);
    samples = t.dim(0);
    if (input.has_shape && !input.dims.empty() && input.dims[0].known()) {
      batch = input.dims[0].value;
      fixed_batch = true;
    }
  }
  if (options.max_samples > 0) samples = std::min(samples, options.max_samples);
  if (samples <= 0) fail("calibration data in {} holds no samples", source);
  batch = std::max<int64_t>(batch, 1);
  std::vector<InputBatch> batches;
  for (int64_t b = 0; b < samples; b += batch) {
    const int64_t e = std::min(b + batch, samples);
    if (fixed_batch && e - b < batch) break;
    InputBatch ib;
    for (const auto& input : graph.inputs) ib[input.name] = arrays.at(input.name).rows(b, e);
    batches.push_back(std::move(ib));
  }
  if (batches.empty()) fail("calibration data in {}: {} samples do not fill one batch of {}", source, samples, batch);
  return batches;
}

// A folder of images for a single image input, preprocessed as options.preprocess says.
std::vector<InputBatch> load_image_folder(const fs::path& dir, const std::vector<fs::path>& files, const Graph& graph,
                                          const CalibrationLoad& options) {
  if (graph.inputs.size() != 1)
    fail("{}: an image folder calibrates a single-input model; this one has {} inputs", dir.string(), graph.inputs.size());
  const ValueInfo& input = graph.inputs[0];
  if (input.dtype != DType::Float32) fail("{}: images feed float inputs; input '{}' is {}", dir.string(), input.name, dtype_name(input.dtype));
  const Preprocess p = parse_preprocess(options.preprocess, input);
  return split({{input.name, load_images(files, p, options.max_samples)}}, graph, options, dir.string());
}

std::vector<InputBatch> load_folder(const fs::path& dir, const Graph& graph, const CalibrationLoad& options) {
  if (const auto images = image_files(dir); !images.empty()) return load_image_folder(dir, images, graph, options);
  if (!options.preprocess.empty()) fail("{}: --preprocess is for image folders, and this folder holds no PNG or JPEG files", dir.string());
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) fail("{}: no images (.png, .jpg) and no test_data_set_* folders with input_<i>.pb files", dir.string());
  std::vector<InputBatch> batches;
  int64_t samples = 0;
  for (const auto& set : sets) {
    InputBatch ib;
    for (size_t i = 0; i < graph.inputs.size(); ++i) {
      const fs::path file = set / ("input_" + std::to_string(i) + ".pb");
      if (!fs::exists(file)) fail("{}: missing {} for input '{}'", set.string(), file.filename().string(), graph.inputs[i].name);
      Tensor t = read_tensor_pb(file);
      check_against_input(t, graph.inputs[i], false, file.string());
      ib[graph.inputs[i].name] = std::move(t);
    }
    samples += ib.begin()->second.rank() ? ib.begin()->second.dim(0) : 1;
    batches.push_back(std::move(ib));
    if (options.max_samples > 0 && samples >= options.max_samples) break;
  }
  return batches;
}

}  // namespace

std::vector<InputBatch> load_calibration_batches(const fs::path& path, const Graph& graph, const CalibrationLoad& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{}: no such file or folder", path.string());
  if (graph.inputs.empty()) fail("the model has no inputs to calibrate");
  if (fs::is_directory(path, ec)) return load_folder(path, graph, options);
  if (!options.preprocess.empty()) fail("{}: --preprocess is for image folders, not single files", path.string());
  const std::string ext = path.extension().string();
  std::map<std::string, Tensor> arrays;
  if (ext == ".npy") {
    if (graph.inputs.size() != 1)
      fail("{}: a .npy file calibrates a single-input model; this one has {} inputs (use .npz with one array per input)",
           path.string(), graph.inputs.size());
    arrays[graph.inputs[0].name] = read_npy(path);
  } else if (ext == ".npz") {
    arrays = read_npz(path);
    for (const auto& input : graph.inputs)
      if (!arrays.count(input.name)) {
        std::string have;
        for (const auto& [name, t] : arrays) have += (have.empty() ? "" : ", ") + name;
        fail("{}: no array named '{}' for the model's input (the archive has: {})", path.string(), input.name, have);
      }
  } else {
    fail("{}: unknown calibration data type '{}' (use .npy, .npz or a folder of test_data_set_*)", path.string(), ext);
  }
  return split(arrays, graph, options, path.string());
}

std::vector<InputBatch> synthetic_calibration_batches(const Graph& graph, int64_t samples, const CalibrationLoad& options,
                                                      uint32_t seed) {
  if (graph.inputs.empty()) fail("the model has no inputs to calibrate");
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::map<std::string, Tensor> arrays;
  for (const auto& input : graph.inputs) {
    if (input.dtype != DType::Float32)
      fail("input '{}' is {}: synthetic calibration data is only made for float inputs; pass --calib", input.name,
           dtype_name(input.dtype));
    Shape shape{samples};
    for (size_t d = 1; d < input.dims.size(); ++d) {
      if (!input.has_shape || !input.dims[d].known())
        fail("input '{}' has shape {}: synthetic calibration data needs every dimension after the first; pass --calib",
             input.name, input.shape_string());
      shape.push_back(input.dims[d].value);
    }
    Tensor t(DType::Float32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
    arrays[input.name] = std::move(t);
  }
  return split(arrays, graph, options, "synthetic data");
}

}  // namespace dyad
