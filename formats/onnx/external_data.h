// ONNX external data: tensors whose bytes live in a separate file next to the model.
//
// A location is trusted only if it stays inside the model's folder: absolute paths, paths that
// climb out with "..", and symbolic links that resolve outside are refused, because a model
// file from elsewhere must not make Dyad read (and later re-emit) arbitrary files.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dyad {

// Resolves `location` against `model_dir` and returns the file's path; throws Error naming
// `tensor_name` if the location is absolute, escapes the folder or does not exist.
std::filesystem::path resolve_external_location(const std::filesystem::path& model_dir,
                                                const std::string& location,
                                                const std::string& tensor_name);

// Reads `length` bytes at `offset` (length < 0: to the end of the file).
std::vector<uint8_t> read_external_bytes(const std::filesystem::path& file, int64_t offset, int64_t length,
                                         const std::string& tensor_name);

}  // namespace dyad
