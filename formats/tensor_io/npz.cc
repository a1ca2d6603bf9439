#include "formats/tensor_io/npz.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "formats/tensor_io/npy.h"

namespace dyad {

namespace {

uint64_t read_le(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(b[at + static_cast<size_t>(i)])) << (8 * i);
  return v;
}

std::string inflate_raw(const std::string& compressed, uint64_t size, const std::string& label) {
  std::string out(size, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) fail("{}: cannot start zlib", label);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || zs.total_out != size) fail("{}: corrupt deflated data", label);
  return out;
}

}  // namespace

std::map<std::string, Tensor> read_npz(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string b = ss.str();
  const std::string label = path.string();
  // End of central directory: signature 0x06054b50 within the last 64 KiB + 22 bytes.
  size_t eocd = std::string::npos;
  for (size_t i = b.size() >= 22 ? b.size() - 22 : 0; b.size() >= 22; --i) {
    if (read_le(b, i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
    if (i == 0 || b.size() - i > 65557) break;
  }
  if (eocd == std::string::npos) fail("{}: not a .npz (zip) file", label);
  const uint64_t entries = read_le(b, eocd + 10, 2);
  uint64_t dir = read_le(b, eocd + 16, 4);
  std::map<std::string, Tensor> arrays;
  for (uint64_t e = 0; e < entries; ++e) {
    if (dir + 46 > b.size() || read_le(b, dir, 4) != 0x02014b50) fail("{}: corrupt zip directory", label);
    const uint64_t method = read_le(b, dir + 10, 2);
    uint64_t compressed = read_le(b, dir + 20, 4), size = read_le(b, dir + 24, 4);
    const uint64_t name_len = read_le(b, dir + 28, 2), extra_len = read_le(b, dir + 30, 2), comment_len = read_le(b, dir + 32, 2);
    uint64_t local = read_le(b, dir + 42, 4);
    if (dir + 46 + name_len + extra_len > b.size()) fail("{}: corrupt zip directory", label);
    const std::string name = b.substr(dir + 46, name_len);
    // ZIP64 extra field (id 1): the 64-bit values of the fields set to 0xFFFFFFFF, in order.
    for (uint64_t x = dir + 46 + name_len; x + 4 <= dir + 46 + name_len + extra_len;) {
      const uint64_t id = read_le(b, x, 2), len = read_le(b, x + 2, 2);
      if (id == 1) {
        uint64_t at = x + 4;
        if (size == 0xFFFFFFFF) size = read_le(b, at, 8), at += 8;
        if (compressed == 0xFFFFFFFF) compressed = read_le(b, at, 8), at += 8;
        if (local == 0xFFFFFFFF) local = read_le(b, at, 8);
      }
      x += 4 + len;
    }
    dir += 46 + name_len + extra_len + comment_len;
    const std::string member = label + ":" + name;
    if (local + 30 > b.size() || read_le(b, local, 4) != 0x04034b50) fail("{}: corrupt zip entry", member);
    const uint64_t data = local + 30 + read_le(b, local + 26, 2) + read_le(b, local + 28, 2);
    if (data + compressed > b.size()) fail("{}: truncated", member);
    std::string bytes = b.substr(data, compressed);
    if (method == 8) bytes = inflate_raw(bytes, size, member);
    else if (method != 0) fail("{}: unsupported zip compression method {}", member, method);
    std::string key = name;
    if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    arrays[key] = parse_npy(bytes, member);
  }
  return arrays;
}

}  // namespace dyad
