// NumPy .npy files (format versions 1-3, little-endian, C order).
#pragma once
#include <filesystem>
#include <string>

#include "lib/ir/tensor.h"

namespace dyad {

Tensor read_npy(const std::filesystem::path& path);
Tensor parse_npy(const std::string& bytes, const std::string& label);
std::string format_npy(const Tensor& t);
// Atomic: a failed write leaves nothing behind.
void write_npy(const Tensor& t, const std::filesystem::path& path);

}  // namespace dyad
