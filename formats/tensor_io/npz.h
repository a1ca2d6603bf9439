// NumPy .npz archives (np.savez and np.savez_compressed): a zip of .npy files, one per array.
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include "lib/ir/tensor.h"

namespace dyad {

// Arrays by name (the member name without ".npy"), in name order. Stored and deflated members
// are read; ZIP64 sizes are understood. Throws Error naming the file and member on corruption.
std::map<std::string, Tensor> read_npz(const std::filesystem::path& path);

}  // namespace dyad
