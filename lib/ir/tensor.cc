#include "lib/ir/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>

namespace dyad {

namespace {

std::shared_ptr<uint8_t[]> allocate_zeroed(size_t bytes) {
  // 64-byte alignment keeps AVX-512 loads of any tensor aligned; at least 64 bytes so that
  // empty tensors still have a valid, distinct pointer.
  const size_t rounded = ((bytes + 63) / 64) * 64 + 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) fail("out of memory allocating {} bytes", bytes);
  std::memset(p, 0, rounded);
  return std::shared_ptr<uint8_t[]>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

}  // namespace

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("negative dimension {} in shape {}", d, shape_to_string(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / 8 / d)
      fail("shape {} has too many elements (the product of its dimensions overflows)",
           shape_to_string(shape));
    n *= d;
  }
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = shape_numel(shape_);
  const size_t bytes = dtype_storage_bytes(dtype_, numel_);
  if (bytes > (size_t{1} << 40)) fail("tensor of {} bytes is too large", bytes);
  storage_ = allocate_zeroed(bytes);
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  t.numel_ = shape_numel(shape);
  if (t.numel_ != numel_)
    fail("cannot reshape {} elements to {}", numel_, shape_to_string(shape));
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

void Tensor::make_unique_storage() {
  if (storage_ && storage_.use_count() > 1) *this = clone();
}

double Tensor::get_as_double(int64_t i) const {
  switch (dtype_) {
    case DType::Float32: return data<float>()[i];
    case DType::Float64: return data<double>()[i];
    case DType::Float16: return half_to_float(data<uint16_t>()[i]);
    case DType::BFloat16: return bfloat16_to_float(data<uint16_t>()[i]);
    default: return static_cast<double>(get_as_int64(i));
  }
}

int64_t Tensor::get_as_int64(int64_t i) const {
  switch (dtype_) {
    case DType::Int8: return data<int8_t>()[i];
    case DType::UInt8: return data<uint8_t>()[i];
    case DType::Bool: return data<uint8_t>()[i] != 0;
    case DType::Int16: return data<int16_t>()[i];
    case DType::UInt16: return data<uint16_t>()[i];
    case DType::Int32: return data<int32_t>()[i];
    case DType::UInt32: return data<uint32_t>()[i];
    case DType::Int64: return data<int64_t>()[i];
    case DType::UInt64: return static_cast<int64_t>(data<uint64_t>()[i]);
    case DType::Int4: return int4_get(raw(), i);
    case DType::UInt4: return uint4_get(raw(), i);
    case DType::Float32:
    case DType::Float64:
    case DType::Float16:
    case DType::BFloat16: return static_cast<int64_t>(get_as_double(i));
    default: fail("tensor of type {} has no numeric value", dtype_name(dtype_));
  }
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) v[static_cast<size_t>(i)] = get_as_int64(i);
  return v;
}

int8_t int4_get(const uint8_t* packed, int64_t i) {
  const uint8_t byte = packed[i >> 1];
  const int8_t nibble = static_cast<int8_t>((i & 1) ? (byte & 0xf0) : (byte << 4));
  return static_cast<int8_t>(nibble >> 4);  // arithmetic shift sign-extends
}

uint8_t uint4_get(const uint8_t* packed, int64_t i) {
  const uint8_t byte = packed[i >> 1];
  return (i & 1) ? (byte >> 4) : (byte & 0x0f);
}

void int4_set(uint8_t* packed, int64_t i, int value) {
  uint8_t& byte = packed[i >> 1];
  const uint8_t nibble = static_cast<uint8_t>(value) & 0x0f;
  byte = (i & 1) ? static_cast<uint8_t>((byte & 0x0f) | (nibble << 4))
                 : static_cast<uint8_t>((byte & 0xf0) | nibble);
}

}  // namespace dyad
