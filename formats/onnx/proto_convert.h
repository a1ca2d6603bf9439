// Conversion between ONNX protobuf messages and Dyad's IR. Internal to formats/: the rest of
// Dyad never sees a protobuf type.
#pragma once
#include <onnx/onnx_pb.h>

#include <filesystem>

#include "lib/ir/graph.h"

namespace dyad::proto {

// The tensor's data must be inline (see inline_external_data). Throws Error naming the tensor
// if its data size disagrees with its shape and type.
Tensor tensor_from_proto(const onnx::TensorProto& p);
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p);

Model model_from_proto(const onnx::ModelProto& p);
void model_to_proto(const Model& m, onnx::ModelProto* p);

// Checks every tensor's dimensions (negative, or a product that overflows) before anything
// else multiplies them; ONNX's own checker wraps around and reports nonsense for such shapes.
void check_tensor_dims(onnx::ModelProto& p);

// Reads every external-data tensor (initializers, Constant attributes, subgraphs) into
// raw_data, checking that each location stays inside `model_dir`.
void inline_external_data(onnx::ModelProto& p, const std::filesystem::path& model_dir);

}  // namespace dyad::proto
