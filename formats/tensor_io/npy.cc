#include "formats/tensor_io/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "formats/onnx/atomic_file.h"

namespace dyad {

namespace {

struct DescrEntry {
  const char* descr;
  DType dtype;
};
constexpr DescrEntry kDescrs[] = {
    {"<f4", DType::Float32}, {"<f8", DType::Float64}, {"<f2", DType::Float16}, {"|i1", DType::Int8},
    {"|u1", DType::UInt8},   {"<i2", DType::Int16},   {"<u2", DType::UInt16},  {"<i4", DType::Int32},
    {"<u4", DType::UInt32},  {"<i8", DType::Int64},   {"<u8", DType::UInt64},  {"|b1", DType::Bool},
};

// Finds the value text after 'key': in the header dict.
std::string header_value(const std::string& header, const std::string& key, const std::string& label) {
  auto k = header.find("'" + key + "'");
  if (k == std::string::npos) fail("{}: .npy header has no '{}'", label, key);
  auto colon = header.find(':', k);
  if (colon == std::string::npos) fail("{}: malformed .npy header", label);
  return header.substr(colon + 1);
}

}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& label) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    fail("{}: not a .npy file", label);
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    header_start = 10;
  } else {
    if (bytes.size() < 12) fail("{}: truncated .npy header", label);
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  }
  if (header_start + header_len > bytes.size()) fail("{}: truncated .npy header", label);
  const std::string header = bytes.substr(header_start, header_len);

  std::string descr_text = header_value(header, "descr", label);
  auto q1 = descr_text.find('\''), q2 = descr_text.find('\'', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos) fail("{}: malformed .npy descr", label);
  std::string descr = descr_text.substr(q1 + 1, q2 - q1 - 1);
  if (descr == "<b1" || descr == "b1") descr = "|b1";
  if (descr == "<i1") descr = "|i1";
  if (descr == "<u1") descr = "|u1";
  DType dtype = DType::Undefined;
  for (const auto& e : kDescrs)
    if (descr == e.descr) dtype = e.dtype;
  if (dtype == DType::Undefined) fail("{}: unsupported .npy element type '{}'", label, descr);

  const std::string fortran = header_value(header, "fortran_order", label);
  if (fortran.find("True") < fortran.find(','))
    fail("{}: Fortran-ordered .npy arrays are not supported; save with np.ascontiguousarray", label);

  std::string shape_text = header_value(header, "shape", label);
  auto open = shape_text.find('('), close = shape_text.find(')');
  if (open == std::string::npos || close == std::string::npos) fail("{}: malformed .npy shape", label);
  Shape shape;
  std::stringstream ss(shape_text.substr(open + 1, close - open - 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    try {
      shape.push_back(std::stoll(item));
    } catch (const std::exception&) {
      fail("{}: malformed .npy shape", label);
    }
  }
  Tensor t(dtype, shape);
  const size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != t.nbytes())
    fail("{}: .npy data is {} bytes but shape {} of type {} needs {}", label, bytes.size() - data_start,
         shape_to_string(shape), dtype_name(dtype), t.nbytes());
  if (t.nbytes()) std::memcpy(t.raw(), bytes.data() + data_start, t.nbytes());
  return t;
}

Tensor read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_npy(ss.str(), path.string());
}

std::string format_npy(const Tensor& t) {
  const char* descr = nullptr;
  for (const auto& e : kDescrs)
    if (e.dtype == t.dtype()) descr = e.descr;
  if (!descr) fail("cannot write a {} tensor as .npy", dtype_name(t.dtype()));
  // numpy's own spelling: () for a scalar, (n,) for rank 1, (a, b) otherwise.
  std::string shape = "(";
  for (int i = 0; i < t.rank(); ++i) shape += (i ? ", " : "") + std::to_string(t.dim(i));
  shape += t.rank() == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that the data starts at a multiple of 64 bytes, ending the header with '\n'.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

void write_npy(const Tensor& t, const std::filesystem::path& path) {
  const std::string bytes = format_npy(t);
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace dyad
