// Reading one input tensor from a file whose kind is told by its extension: .npy or .pb.
#pragma once
#include <filesystem>

#include "lib/ir/tensor.h"

namespace dyad {

Tensor read_tensor_file(const std::filesystem::path& path);

}  // namespace dyad
