#include "lib/ir/tensor.h"

#include <fmt/ranges.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>

namespace dyad {

namespace {

// A cache of freed buffers by power-of-two size class. Executors allocate one tensor per op
// output; without the cache every large allocation is a fresh mmap whose pages fault in on first
// write, which cost more than the arithmetic of elementwise ops. The cache is bounded so memory
// stays near the executor's live set.
class BufferCache {
 public:
  static BufferCache& instance() {
    static BufferCache* cache = new BufferCache;  // never destroyed: tensors may outlive statics
    return *cache;
  }
  uint8_t* take(size_t bytes, size_t& capacity) {
    capacity = round_up(bytes);
    const int cls = size_class(capacity);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& list = free_[cls];
      if (!list.empty()) {
        uint8_t* p = list.back();
        list.pop_back();
        cached_bytes_ -= capacity;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, capacity);
    if (!p) fail("out of memory allocating {} bytes", bytes);
    return static_cast<uint8_t*>(p);
  }
  void give(uint8_t* p, size_t capacity) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + capacity <= kMaxCachedBytes) {
        free_[size_class(capacity)].push_back(p);
        cached_bytes_ += capacity;
        return;
      }
    }
    std::free(p);
  }

 private:
  static constexpr size_t kMaxCachedBytes = size_t{256} << 20;
  static size_t round_up(size_t bytes) {
    size_t c = 64;
    while (c < bytes + 64) c <<= 1;  // +64: never zero, and room for vector over-reads
    return c;
  }
  static int size_class(size_t capacity) { return __builtin_ctzll(capacity); }
  std::mutex mutex_;
  std::vector<uint8_t*> free_[64];
  size_t cached_bytes_ = 0;
};

std::shared_ptr<uint8_t[]> allocate(size_t bytes, bool zero) {
  size_t capacity = 0;
  uint8_t* p = BufferCache::instance().take(bytes, capacity);
  if (zero) std::memset(p, 0, bytes);
  return std::shared_ptr<uint8_t[]>(p, [capacity](uint8_t* q) { BufferCache::instance().give(q, capacity); });
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
  return fmt::format("[{}]", fmt::join(shape, ","));
}

Tensor::Tensor(DType dtype, Shape shape) : Tensor(dtype, std::move(shape), true) {}

Tensor::Tensor(DType dtype, Shape shape, bool zero) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = shape_numel(shape_);
  const size_t bytes = dtype_storage_bytes(dtype_, numel_);
  if (bytes > (size_t{1} << 40)) fail("tensor of {} bytes is too large", bytes);
  storage_ = allocate(bytes, zero);
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) { return Tensor(dtype, std::move(shape), false); }

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  if (rank() == 0) fail("rows of a scalar");
  end = std::min(end, dim(0));
  if (begin < 0 || begin > end) fail("rows [{}, {}) of a tensor with {} rows", begin, end, dim(0));
  Shape s = shape_;
  s[0] = end - begin;
  Tensor out = uninitialized(dtype_, s);
  const size_t row_bytes = dim(0) ? nbytes() / static_cast<size_t>(dim(0)) : 0;
  std::memcpy(out.raw(), raw() + static_cast<size_t>(begin) * row_bytes, static_cast<size_t>(end - begin) * row_bytes);
  return out;
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
