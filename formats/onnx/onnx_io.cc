#include "formats/onnx/onnx_io.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <fstream>
#include <sstream>

#include "formats/onnx/atomic_file.h"
#include "formats/onnx/proto_convert.h"

namespace dyad {

namespace fs = std::filesystem;

namespace {

// libonnx 1.12 knows IR <= 8 and opset <= 17; its checker rejects newer models outright, so
// for those we rely on our own loader's checks (and ONNX Runtime in the tests).
constexpr int64_t kCheckerMaxIr = 8;
constexpr int64_t kCheckerMaxOpset = 17;

// ONNX's messages span lines and carry a context dump; keep the first line.
std::string first_line(const std::string& message) { return message.substr(0, message.find('\n')); }

void run_checker(const onnx::ModelProto& p, const std::string& label) {
  if (p.ir_version() > kCheckerMaxIr) return;
  for (const auto& op : p.opset_import())
    if ((op.domain().empty() || op.domain() == "ai.onnx") && op.version() > kCheckerMaxOpset) return;
  try {
    onnx::checker::check_model(p);
  } catch (const std::exception& e) {
    fail("{}: not a valid ONNX model: {}", label, first_line(e.what()));
  }
}

void infer_shapes_proto(onnx::ModelProto& p) {
  try {
    // Data propagation lets shapes flow through Shape -> Concat -> Reshape chains, which
    // exporters emit for dynamic batch sizes.
    onnx::shape_inference::InferShapes(p, onnx::OpSchemaRegistry::Instance(), onnx::ShapeInferenceOptions(false, 0, true));
  } catch (const std::exception&) {
    // Non-strict mode: a model whose shapes cannot be inferred still runs; the executor
    // computes real shapes at run time.
  }
}

}  // namespace

Model load_onnx_from_bytes(const std::string& bytes, const fs::path& model_dir, const std::string& label,
                           const LoadOptions& options) {
  onnx::ModelProto p;
  if (bytes.empty()) fail("{}: file is empty", label);
  if (!p.ParseFromString(bytes)) fail("{}: not an ONNX model (protobuf parse failed; truncated or not ONNX)", label);
  if (!p.has_graph() || p.ir_version() <= 0)
    fail("{}: not an ONNX model (no graph or no ir_version; truncated or not ONNX)", label);
  try {
    proto::check_tensor_dims(p);
    proto::inline_external_data(p, model_dir);
  } catch (const Error& e) {
    fail("{}: {}", label, e.what());
  }
  if (options.check) run_checker(p, label);
  if (options.infer_shapes) infer_shapes_proto(p);
  try {
    return proto::model_from_proto(p);
  } catch (const Error& e) {
    fail("{}: {}", label, e.what());
  }
}

Model load_onnx(const fs::path& path, const LoadOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{}: no such file", path.string());
  if (fs::is_directory(path, ec)) fail("{}: is a folder, not an ONNX file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_onnx_from_bytes(ss.str(), path.parent_path(), path.string(), options);
}

std::string serialize_onnx(const Model& model) {
  onnx::ModelProto p;
  proto::model_to_proto(model, &p);
  std::string out;
  if (!p.SerializeToString(&out)) fail("model is too large to serialize (over 2 GB); save it with external data");
  return out;
}

void save_onnx(const Model& model, const fs::path& path, const SaveOptions& options) {
  if (!options.input_path.empty()) refuse_overwrite(path, options.input_path);
  onnx::ModelProto p;
  proto::model_to_proto(model, &p);

  size_t total = 0;
  for (const auto& [name, t] : model.graph.initializers) total += t.nbytes();
  const bool external = options.force_external_data || total > options.external_threshold_bytes;
  if (!external) {
    AtomicFile file(path);
    file.write(serialize_onnx(model));
    file.commit();
    return;
  }
  const std::string data_name = path.filename().string() + ".data";
  AtomicFile data(path.parent_path() / data_name);
  for (auto& t : *p.mutable_graph()->mutable_initializer()) {
    if (t.raw_data().size() < options.external_min_bytes) continue;
    // Align each tensor to 64 bytes so a reader can map the file and use it in place.
    static const char zeros[64] = {};
    data.write(zeros, (64 - data.written() % 64) % 64);
    const size_t offset = data.written();
    data.write(t.raw_data());
    auto add = [&](const std::string& k, const std::string& v) {
      auto* kv = t.add_external_data();
      kv->set_key(k);
      kv->set_value(v);
    };
    add("location", data_name);
    add("offset", std::to_string(offset));
    add("length", std::to_string(t.raw_data().size()));
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
  }
  std::string bytes;
  if (!p.SerializeToString(&bytes)) fail("{}: model graph is too large to serialize", path.string());
  AtomicFile file(path);
  file.write(bytes);
  data.commit();
  file.commit();
}

void upgrade_opset(Model& model, int64_t target) {
  if (model.opset("") == target) return;
  if (model.opset("") > target) fail("models above opset {} are not supported yet (this one imports opset {})", target, model.opset(""));
  onnx::ModelProto p;
  proto::model_to_proto(model, &p);
  onnx::ModelProto converted;
  try {
    converted = onnx::version_conversion::ConvertVersion(p, static_cast<int>(target));
  } catch (const std::exception& e) {
    fail("cannot convert the model from opset {} to {}: {}", model.opset(""), target, first_line(e.what()));
  }
  infer_shapes_proto(converted);
  model = proto::model_from_proto(converted);
}

void infer_shapes(Model& model) {
  onnx::ModelProto p;
  proto::model_to_proto(model, &p);
  p.mutable_graph()->clear_value_info();
  infer_shapes_proto(p);
  Model inferred = proto::model_from_proto(p);
  model.graph.value_info = std::move(inferred.graph.value_info);
  model.graph.outputs = std::move(inferred.graph.outputs);
}

}  // namespace dyad
