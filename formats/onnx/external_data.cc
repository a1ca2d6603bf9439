#include "formats/onnx/external_data.h"

#include <fstream>

#include "lib/ir/error.h"

namespace dyad {

namespace fs = std::filesystem;

fs::path resolve_external_location(const fs::path& model_dir, const std::string& location,
                                   const std::string& tensor_name) {
  const fs::path loc(location);
  if (location.empty()) fail("tensor '{}': external data has an empty location", tensor_name);
  if (loc.is_absolute() || loc.has_root_name() || loc.has_root_directory())
    fail("tensor '{}': external data path '{}' is absolute; only paths inside the model's folder are allowed",
         tensor_name, location);
  const fs::path base = fs::weakly_canonical(model_dir.empty() ? fs::path(".") : model_dir);
  const fs::path lexical = (base / loc).lexically_normal();
  const fs::path resolved = fs::weakly_canonical(lexical);  // follows symlinks
  auto inside = [&](const fs::path& p) {
    auto rel = p.lexically_relative(base);
    return !rel.empty() && *rel.begin() != ".." && rel != ".";
  };
  if (!inside(lexical) || !inside(resolved))
    fail("tensor '{}': external data path '{}' leaves the model's folder", tensor_name, location);
  if (!fs::is_regular_file(resolved))
    fail("tensor '{}': external data file '{}' does not exist", tensor_name, location);
  return resolved;
}

std::vector<uint8_t> read_external_bytes(const fs::path& file, int64_t offset, int64_t length,
                                         const std::string& tensor_name) {
  const auto size = static_cast<int64_t>(fs::file_size(file));
  if (offset < 0 || offset > size)
    fail("tensor '{}': external data offset {} is outside '{}' ({} bytes)", tensor_name, offset, file.string(), size);
  if (length < 0) length = size - offset;
  if (length > size - offset)
    fail("tensor '{}': external data needs {} bytes at offset {} but '{}' has {}", tensor_name, length, offset,
         file.filename().string(), size);
  std::vector<uint8_t> bytes(static_cast<size_t>(length));
  std::ifstream in(file, std::ios::binary);
  in.seekg(offset);
  in.read(reinterpret_cast<char*>(bytes.data()), length);
  if (!in) fail("tensor '{}': cannot read external data from '{}'", tensor_name, file.string());
  return bytes;
}

}  // namespace dyad
