#include "formats/tensor_io/tensor_pb.h"

#include <fstream>
#include <sstream>

#include "formats/onnx/atomic_file.h"
#include "formats/onnx/proto_convert.h"

namespace dyad {

Tensor read_tensor_pb(const std::filesystem::path& path, std::string* name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  onnx::TensorProto p;
  if (!p.ParseFromString(ss.str())) fail("{}: not an ONNX TensorProto file", path.string());
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    fail("{}: tensor files with external data are not supported", path.string());
  if (name) *name = p.name();
  try {
    return proto::tensor_from_proto(p);
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

void write_tensor_pb(const Tensor& t, const std::string& name, const std::filesystem::path& path) {
  onnx::TensorProto p;
  proto::tensor_to_proto(t, name, &p);
  AtomicFile file(path);
  file.write(p.SerializeAsString());
  file.commit();
}

}  // namespace dyad
