#include "formats/tensor_io/input_files.h"

#include "formats/tensor_io/npy.h"
#include "formats/tensor_io/tensor_pb.h"

namespace dyad {

Tensor read_tensor_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: no such file", path.string());
  const std::string ext = path.extension().string();
  if (ext == ".npy") return read_npy(path);
  if (ext == ".pb") return read_tensor_pb(path);
  fail("{}: unknown tensor file type '{}' (use .npy or an ONNX TensorProto .pb)", path.string(), ext);
}

}  // namespace dyad
