// ONNX TensorProto files (the test_data_set_*/input_*.pb layout of ONNX's own tests).
#pragma once
#include <filesystem>
#include <string>

#include "lib/ir/tensor.h"

namespace dyad {

// Reads a serialized TensorProto; `name` receives the proto's name field if non-null.
Tensor read_tensor_pb(const std::filesystem::path& path, std::string* name = nullptr);
void write_tensor_pb(const Tensor& t, const std::string& name, const std::filesystem::path& path);

}  // namespace dyad
