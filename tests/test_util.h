// Helpers shared by Dyad's tests: paths to test data, temporary folders, the ONNX Runtime
// oracle (tools/ort/ort_run.js through Node) and tensor comparisons.
#pragma once
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lib/ir/tensor.h"

namespace dyad::test {

namespace fs = std::filesystem;

fs::path source_dir();    // the repository root
fs::path testdata_dir();  // <root>/testdata
// Folder holding the PP-OCRv4 .onnx files (scripts/install_ocr_models.sh), or empty if absent.
fs::path ocr_models_dir();
// True if scripts/install_ort.sh has installed onnxruntime-node.
bool ort_available();

// A fresh folder under the system temp dir, removed with its content on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Runs `model` in ONNX Runtime with the given inputs; returns outputs in graph output order.
std::vector<Tensor> run_onnxruntime(const fs::path& model, const std::map<std::string, Tensor>& inputs,
                                    const std::vector<std::string>& output_names, int threads = 1);

// Result of running a command line: exit code, stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
CommandResult run_command(const std::string& command_line);
// The compress binary built with the tests.
std::string compress_binary();

// Serialized ONNX model "y = x + w" (x, w: float[4]) whose initializer w is edited by `edit`
// first: for building malformed models (wrong raw size, overflowing dims, external data).
std::string model_with_initializer(const std::function<void(onnx::TensorProto&)>& edit);
// The same model with w stored as external data at `location`.
std::string external_data_model(const std::string& location);
void write_file(const fs::path& p, const std::string& bytes);

// The message of the dyad::Error that fn throws, or "<no error>".
std::string error_of(const std::function<void()>& fn);

double max_abs_diff(const Tensor& a, const Tensor& b);
double value_range(const Tensor& t);  // max - min
std::string read_file(const fs::path& p);

}  // namespace dyad::test
