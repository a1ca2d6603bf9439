#include "formats/datasets/idx.h"

#include <zlib.h>

#include <string>

namespace dyad {

Tensor read_idx(const std::filesystem::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!f) fail("{}: cannot open", path.string());
  std::string bytes;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(f, buffer, sizeof buffer)) > 0) bytes.append(buffer, static_cast<size_t>(n));
  gzclose(f);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || static_cast<uint8_t>(bytes[2]) != 0x08)
    fail("{}: not an IDX file of unsigned bytes", path.string());
  const int rank = static_cast<uint8_t>(bytes[3]);
  if (bytes.size() < 4 + 4 * static_cast<size_t>(rank)) fail("{}: truncated IDX header", path.string());
  Shape shape;
  for (int d = 0; d < rank; ++d) {
    int64_t v = 0;
    for (int b = 0; b < 4; ++b) v = (v << 8) | static_cast<uint8_t>(bytes[4 + 4 * static_cast<size_t>(d) + static_cast<size_t>(b)]);
    shape.push_back(v);
  }
  Tensor t(DType::UInt8, shape);
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() - header != t.nbytes())
    fail("{}: IDX data is {} bytes but shape {} needs {}", path.string(), bytes.size() - header, shape_to_string(shape), t.nbytes());
  std::copy(bytes.begin() + static_cast<long>(header), bytes.end(), t.raw());
  return t;
}

Tensor normalize_fashion_mnist(const Tensor& images) {
  if (images.dtype() != DType::UInt8 || images.rank() != 3) fail("expected uint8 images [N, H, W]");
  Tensor x = Tensor::uninitialized(DType::Float32, {images.dim(0), 1, images.dim(1), images.dim(2)});
  for (int64_t i = 0; i < images.numel(); ++i)
    x.data<float>()[i] = (static_cast<float>(images.data<uint8_t>()[i]) / 255.0f - 0.2860f) / 0.3530f;
  return x;
}

}  // namespace dyad
