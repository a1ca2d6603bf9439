// Runs ONNX's backend test data (Debian package libonnx-testdata) through the float executor.
//
//   conformance [DATA_ROOT] [--filter SUBSTRING] [--verbose]
//
// Every case under node/, pytorch-converted/, pytorch-operator/ and simple/ whose ops the
// executor supports is run on each of its test_data_set_* folders and compared with the
// expected outputs using ONNX's tolerances (rtol 1e-3, atol 1e-7; exact for integers and
// bools). Cases with unsupported ops or non-tensor inputs are skipped and the reasons listed.
// Prints "N passed, M failed, K skipped". Exits non-zero if any supported case fails or fewer
// than --min-pass cases (default 400) pass.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/tensor_pb.h"
#include "lib/exec/executor.h"

namespace fs = std::filesystem;
using namespace dyad;

namespace {

struct Outcome {
  enum Kind { Pass, Fail, Skip } kind;
  std::string reason;
};

// Compares with numpy.testing.assert_allclose semantics: |a - e| <= atol + rtol * |e|.
std::string compare(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.shape() != expected.shape())
    return "shape " + shape_to_string(actual.shape()) + " != expected " + shape_to_string(expected.shape());
  if (actual.dtype() != expected.dtype())
    return "type " + dtype_name(actual.dtype()) + " != expected " + dtype_name(expected.dtype());
  const bool is_float = dtype_is_float(expected.dtype());
  for (int64_t i = 0; i < expected.numel(); ++i) {
    if (is_float) {
      const double a = actual.get_as_double(i), e = expected.get_as_double(i);
      if (std::isnan(e) && std::isnan(a)) continue;
      if (std::isinf(e) && a == e) continue;
      if (!(std::fabs(a - e) <= atol + rtol * std::fabs(e)))
        return fmt::format("element {}: {} != expected {}", i, a, e);
    } else if (actual.get_as_int64(i) != expected.get_as_int64(i)) {
      return fmt::format("element {}: {} != expected {}", i, actual.get_as_int64(i), expected.get_as_int64(i));
    }
  }
  return "";
}

std::vector<fs::path> sorted_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) files.push_back(e.path());
  // input_10.pb sorts after input_9.pb: compare by the number.
  std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
    auto num = [&](const fs::path& p) { return std::stoi(p.stem().string().substr(prefix.size())); };
    return num(a) < num(b);
  });
  return files;
}

Outcome run_case(const fs::path& dir, std::map<std::string, int>& skipped_ops) {
  Model model;
  try {
    model = load_onnx(dir / "model.onnx");
  } catch (const Error& e) {
    return {Outcome::Skip, std::string("load: ") + e.what()};
  }
  std::map<std::string, std::vector<std::string>> dummy;
  try {
    check_supported(model);
  } catch (const Error& e) {
    // Count each unsupported op once per case.
    std::string msg = e.what();
    const std::string head = "unsupported ops: ";
    if (msg.rfind(head, 0) == 0) {
      std::string rest = msg.substr(head.size());
      size_t pos = 0;
      while (pos < rest.size()) {
        const size_t paren = rest.find(" (", pos);
        if (paren == std::string::npos) break;
        skipped_ops[rest.substr(pos, paren - pos)]++;
        const size_t next = rest.find("; ", paren);
        if (next == std::string::npos) break;
        pos = next + 2;
      }
    }
    return {Outcome::Skip, msg};
  }
  for (const auto& in : model.graph.inputs)
    if (in.dtype == DType::Undefined) {
      skipped_ops["<non-tensor input>"]++;
      return {Outcome::Skip, "non-tensor input '" + in.name + "'"};
    }
  for (const auto& out : model.graph.outputs)
    if (out.dtype == DType::Undefined) {
      skipped_ops["<non-tensor output>"]++;
      return {Outcome::Skip, "non-tensor output '" + out.name + "'"};
    }
  try {
    Executor exec(model, {.threads = 2});
    int sets = 0;
    for (const auto& set : fs::directory_iterator(dir)) {
      if (!set.is_directory() || set.path().filename().string().rfind("test_data_set_", 0) != 0) continue;
      ++sets;
      std::map<std::string, Tensor> inputs;
      const auto in_files = sorted_files(set.path(), "input_");
      if (in_files.size() != model.graph.inputs.size())
        return {Outcome::Fail, fmt::format("{} input files for {} graph inputs", in_files.size(), model.graph.inputs.size())};
      for (size_t i = 0; i < in_files.size(); ++i) inputs[model.graph.inputs[i].name] = read_tensor_pb(in_files[i]);
      auto outputs = exec.run(inputs);
      const auto out_files = sorted_files(set.path(), "output_");
      for (size_t i = 0; i < out_files.size() && i < outputs.size(); ++i) {
        const std::string diff = compare(outputs[i], read_tensor_pb(out_files[i]), 1e-3, 1e-7);
        if (!diff.empty())
          return {Outcome::Fail, set.path().filename().string() + " output '" + model.graph.outputs[i].name + "': " + diff};
      }
    }
    if (sets == 0) return {Outcome::Skip, "no test data sets"};
  } catch (const Error& e) {
    // String tensors and similar load-time type limits are skips, not failures.
    const std::string msg = e.what();
    if (msg.find("string tensors are not supported") != std::string::npos) {
      skipped_ops["<string tensor>"]++;
      return {Outcome::Skip, msg};
    }
    return {Outcome::Fail, msg};
  }
  return {Outcome::Pass, ""};
}

}  // namespace

int main(int argc, char** argv) {
  fs::path root = "/usr/share/libonnx-testdata/data";
  std::string filter;
  bool verbose = false;
  int min_pass = 400;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--verbose") verbose = true;
    else if (a == "--min-pass" && i + 1 < argc) min_pass = std::stoi(argv[++i]);
    else root = a;
  }
  if (!fs::is_directory(root)) {
    std::fprintf(stderr, "conformance: %s not found (install Debian's libonnx-testdata)\n", root.c_str());
    return 1;
  }
  int passed = 0, failed = 0, skipped = 0;
  std::map<std::string, int> skipped_ops;
  for (const char* suite : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    if (!fs::is_directory(root / suite)) continue;
    std::vector<fs::path> cases;
    for (const auto& e : fs::directory_iterator(root / suite))
      if (fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    for (const auto& dir : cases) {
      const std::string name = std::string(suite) + "/" + dir.filename().string();
      if (!filter.empty() && name.find(filter) == std::string::npos) continue;
      const Outcome o = run_case(dir, skipped_ops);
      if (o.kind == Outcome::Pass) ++passed;
      if (o.kind == Outcome::Fail) {
        ++failed;
        std::printf("FAIL %s: %s\n", name.c_str(), o.reason.c_str());
      }
      if (o.kind == Outcome::Skip) {
        ++skipped;
        if (verbose) std::printf("skip %s: %s\n", name.c_str(), o.reason.c_str());
      }
      if (verbose && o.kind == Outcome::Pass) std::printf("pass %s\n", name.c_str());
    }
  }
  std::vector<std::pair<int, std::string>> by_count;
  for (const auto& [op, n] : skipped_ops) by_count.emplace_back(-n, op);
  std::sort(by_count.begin(), by_count.end());
  std::string list;
  for (const auto& [n, op] : by_count) list += (list.empty() ? "" : ", ") + op + " (" + std::to_string(-n) + ")";
  std::printf("skipped for unsupported ops or types: %s\n", list.c_str());
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed > 0) return 1;
  if (passed < min_pass && filter.empty()) {
    std::printf("fewer than %d cases passed\n", min_pass);
    return 1;
  }
  return 0;
}
