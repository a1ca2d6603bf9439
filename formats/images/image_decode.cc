// jpeglib.h needs size_t and FILE declared before it.
#include <csetjmp>
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "formats/images/image.h"
#include "lib/ir/error.h"

namespace dyad {

namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// --- PNG: libpng's simplified API, which converts every colour type for us.
Image decode_png(const std::string& bytes, const fs::path& path) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()))
    fail("{}: not a readable PNG ({})", path.string(), png.message);
  const bool color = (png.format & PNG_FORMAT_FLAG_COLOR) != 0;
  // Alpha is read and then dropped (as Pillow's convert("RGB") does): asking libpng for a format
  // without alpha would composite onto a background instead.
  const bool alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  png.format = color ? (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB) : (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY);
  std::vector<uint8_t> raw(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, raw.data(), 0, nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    fail("{}: corrupt or truncated PNG ({})", path.string(), message);
  }
  Image img;
  img.height = png.height;
  img.width = png.width;
  img.channels = color ? 3 : 1;
  const size_t stride = static_cast<size_t>(img.channels + (alpha ? 1 : 0));
  img.pixels.resize(static_cast<size_t>(img.height * img.width * img.channels));
  for (size_t i = 0; i < static_cast<size_t>(img.height * img.width); ++i)
    for (size_t c = 0; c < static_cast<size_t>(img.channels); ++c) img.pixels[i * static_cast<size_t>(img.channels) + c] = raw[i * stride + c];
  return img;
}

// --- JPEG: libjpeg reports errors through a callback; longjmp back out of it.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr info) {
  auto* err = reinterpret_cast<JpegError*>(info->err);
  info->err->format_message(info, err->message);
  std::longjmp(err->jump, 1);
}

Image decode_jpeg(const std::string& bytes, const fs::path& path) {
  jpeg_decompress_struct info;
  JpegError err;
  info.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_jpeg_error;
  Image img;  // constructed before setjmp: nothing with a destructor is created between the two
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&info);
    fail("{}: corrupt or truncated JPEG ({})", path.string(), err.message);
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  img.height = info.output_height;
  img.width = info.output_width;
  img.channels = info.output_components;
  img.pixels.resize(static_cast<size_t>(img.height * img.width * img.channels));
  while (info.output_scanline < info.output_height) {
    unsigned char* row = img.pixels.data() + static_cast<size_t>(info.output_scanline) * static_cast<size_t>(img.width * img.channels);
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return img;
}

}  // namespace

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

Image read_image(const fs::path& path) {
  const std::string bytes = read_bytes(path);
  static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), png_magic, 8) == 0) return decode_png(bytes, path);
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xff && static_cast<unsigned char>(bytes[1]) == 0xd8 &&
      static_cast<unsigned char>(bytes[2]) == 0xff)
    return decode_jpeg(bytes, path);
  fail("{}: not a PNG or JPEG image", path.string());
}

}  // namespace dyad
