// Decoded images: 8-bit pixels, rows top to bottom, channels interleaved (1 = gray, 3 = RGB).
// PNG through libpng and JPEG through libjpeg(-turbo), chosen by the file's first bytes, not its
// name. Palette, 16-bit and alpha PNGs are converted to 8-bit gray or RGB (alpha dropped).
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace dyad {

struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels
  uint8_t at(int64_t y, int64_t x, int64_t c) const {
    return pixels[static_cast<size_t>((y * width + x) * channels + c)];
  }
};

// Errors name the file and what is wrong with it (not an image, truncated, ...).
Image read_image(const std::filesystem::path& path);

// True for names ending in .png, .jpg or .jpeg (any case): what an image folder holds.
bool has_image_extension(const std::filesystem::path& path);

}  // namespace dyad
