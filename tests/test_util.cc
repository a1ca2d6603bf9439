#include "tests/test_util.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "formats/tensor_io/npy.h"

namespace dyad::test {

fs::path source_dir() { return DYAD_SOURCE_DIR; }
fs::path testdata_dir() { return source_dir() / "testdata"; }

static fs::path cache_dir() {
  if (const char* c = std::getenv("DYAD_CACHE")) return c;
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : "/tmp") / ".cache" / "dyad";
}

fs::path ocr_models_dir() {
  const fs::path dir = cache_dir() / "ocr-models" / "node_modules" / "@gutenye" / "ocr-models" / "assets";
  return fs::exists(dir / "ch_PP-OCRv4_rec_infer.onnx") ? dir : fs::path();
}

bool ort_available() { return fs::exists(cache_dir() / "ort" / "node_modules" / "onnxruntime-node" / "package.json"); }

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / fmt::format("dyad-test-{}{}", rd(), rd());
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

CommandResult run_command(const std::string& command_line) {
  TempDir dir;
  const std::string full = fmt::format("{} > '{}' 2> '{}'", command_line, (dir / "out").string(), (dir / "err").string());
  const int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(dir / "out");
  r.err = read_file(dir / "err");
  return r;
}

std::string compress_binary() { return DYAD_COMPRESS_BIN; }

std::vector<Tensor> run_onnxruntime(const fs::path& model, const std::map<std::string, Tensor>& inputs,
                                    const std::vector<std::string>& output_names, int threads) {
  TempDir dir;
  std::string cmd = fmt::format("node '{}' '{}' --out '{}' --threads {}", (source_dir() / "tools" / "ort" / "ort_run.js").string(),
                                model.string(), (dir / "out").string(), threads);
  int i = 0;
  for (const auto& [name, t] : inputs) {
    const fs::path file = dir / fmt::format("in{}.npy", i++);
    write_npy(t, file);
    cmd += fmt::format(" '{}={}'", name, file.string());
  }
  const CommandResult r = run_command(cmd);
  if (r.exit_code != 0) throw Error("onnxruntime failed: " + r.err);
  std::vector<Tensor> outputs;
  for (const auto& name : output_names) {
    std::string file = name;
    for (char& ch : file)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.')) ch = '_';
    outputs.push_back(read_npy(dir / "out" / fmt::format("{}.npy", file)));
  }
  return outputs;
}

std::string model_with_initializer(const std::function<void(onnx::TensorProto&)>& edit) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->add_input("x");
  n->add_input("w");
  n->add_output("y");
  auto describe = [](onnx::ValueInfoProto* vi, const char* name) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(4);
  };
  describe(g->add_input(), "x");
  describe(g->add_output(), "y");
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(4);
  w->set_raw_data(std::string(16, '\0'));
  edit(*w);
  return m.SerializeAsString();
}

std::string external_data_model(const std::string& location) {
  return model_with_initializer([&](onnx::TensorProto& w) {
    w.clear_raw_data();
    w.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = w.add_external_data();
    kv->set_key("location");
    kv->set_value(location);
  });
}

void write_file(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return 1e300;
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.get_as_double(i) - b.get_as_double(i)));
  return m;
}

double value_range(const Tensor& t) {
  if (t.numel() == 0) return 0;
  double lo = t.get_as_double(0), hi = lo;
  for (int64_t i = 1; i < t.numel(); ++i) {
    lo = std::min(lo, t.get_as_double(i));
    hi = std::max(hi, t.get_as_double(i));
  }
  return hi - lo;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace dyad::test
