// A folder of PNG/JPEG images as one batch tensor: files sorted by name, each preprocessed.
#pragma once
#include <filesystem>
#include <vector>

#include "formats/images/preprocess.h"

namespace dyad {

// The .png/.jpg/.jpeg files directly in `dir`, sorted by name (other files are ignored).
std::vector<std::filesystem::path> image_files(const std::filesystem::path& dir);

// [N, ...] float32 from the first `max_images` files (0: all).
Tensor load_images(const std::vector<std::filesystem::path>& files, const Preprocess& p, int64_t max_images = 0);

}  // namespace dyad
