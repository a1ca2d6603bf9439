#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cmd/compress/commands.h"
#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/input_files.h"
#include "formats/tensor_io/npy.h"
#include "lib/exec/executor.h"

namespace dyad::cli {

namespace fs = std::filesystem;

namespace {

// Output names can hold characters that are not safe in a file name ("/", ":"); map them to "_".
std::string file_name_for(const std::string& output_name) {
  std::string s = output_name.empty() ? "output" : output_name;
  for (char& ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.')) ch = '_';
  if (s == "." || s == "..") s = "_" + s;
  return s + ".npy";
}

}  // namespace

void run_run(const RunOptions& options) {
  const Model model = load_onnx(options.model);
  Executor executor(model, {.threads = options.threads});
  std::map<std::string, Tensor> inputs;
  for (const std::string& spec : options.inputs) {
    const size_t eq = spec.find('=');
    std::string name, file = spec;
    if (eq != std::string::npos && !fs::exists(spec)) {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    } else {
      if (model.graph.inputs.size() != 1)
        throw Error(fmt::format("the model has {} inputs; name each one with --input NAME=FILE", model.graph.inputs.size()),
                    Error::Kind::Usage);
      name = model.graph.inputs[0].name;
    }
    if (inputs.count(name)) throw Error("input '" + name + "' is given twice", Error::Kind::Usage);
    if (std::none_of(model.graph.inputs.begin(), model.graph.inputs.end(), [&](const ValueInfo& v) { return v.name == name; })) {
      std::string names;
      for (const auto& v : model.graph.inputs) names += (names.empty() ? "" : ", ") + v.name;
      throw Error("the model has no input named '" + name + "' (its inputs: " + names + ")", Error::Kind::Usage);
    }
    inputs[name] = read_tensor_file(file);
  }
  for (const auto& in : model.graph.inputs)
    if (!inputs.count(in.name))
      throw Error(fmt::format("input '{}' ({} {}) is missing; pass --input {}=FILE", in.name, dtype_name(in.dtype),
                              in.shape_string(), in.name),
                  Error::Kind::Usage);
  std::vector<Tensor> outputs;
  std::vector<double> ms;
  for (int r = 0; r < options.repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    outputs = executor.run(inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  if (options.repeat > 1) {
    std::sort(ms.begin(), ms.end());
    std::printf("latency over %d runs: median %.3f ms, fastest %.3f ms\n", options.repeat, ms[ms.size() / 2], ms.front());
  }
  std::error_code ec;
  fs::create_directories(options.output_dir, ec);
  if (!fs::is_directory(options.output_dir)) fail("cannot create output folder '{}'", options.output_dir);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const fs::path path = fs::path(options.output_dir) / file_name_for(model.graph.outputs[i].name);
    write_npy(outputs[i], path);
    std::printf("%s: %s %s -> %s\n", model.graph.outputs[i].name.c_str(), dtype_name(outputs[i].dtype()).c_str(),
                shape_to_string(outputs[i].shape()).c_str(), path.c_str());
  }
}

}  // namespace dyad::cli
