// A dense tensor: element type, shape and a reference-counted, 64-byte aligned byte buffer.
//
// Copies are cheap and share the buffer (a view, like ruy's Matrix: a copy does not own a
// separate buffer). Code that writes into a tensor it did not allocate itself must call
// make_unique_storage() first. Packed Int4/UInt4 tensors hold ceil(numel/2) bytes, element i in
// the low nibble of byte i/2 when i is even.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/ir/dtype.h"
#include "lib/ir/error.h"

namespace dyad {

using Shape = std::vector<int64_t>;

// Product of the dimensions; throws Error if a dimension is negative or the product overflows.
int64_t shape_numel(const Shape& shape);
std::string shape_to_string(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-filled storage.
  Tensor(DType dtype, Shape shape);
  // Allocates without clearing: for kernels that write every element. Saves a full pass over
  // memory per op.
  static Tensor uninitialized(DType dtype, Shape shape);

  template <typename T>
  static Tensor scalar(T value) {
    Tensor t(DTypeOf<T>::value, {});
    *t.data<T>() = value;
    return t;
  }
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape) {
    Tensor t(DTypeOf<T>::value, std::move(shape));
    DYAD_CHECK(static_cast<size_t>(t.numel()) == values.size());
    for (size_t i = 0; i < values.size(); ++i) t.data<T>()[i] = values[i];
    return t;
  }

  bool defined() const { return dtype_ != DType::Undefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i)]; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return dtype_storage_bytes(dtype_, numel_); }

  template <typename T>
  T* data() { return reinterpret_cast<T*>(storage_.get()); }
  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(storage_.get()); }
  uint8_t* raw() { return storage_.get(); }
  const uint8_t* raw() const { return storage_.get(); }

  // Same bytes, new shape (the element count must match).
  Tensor reshaped(Shape shape) const;
  // Deep copy.
  Tensor clone() const;
  // A copy of entries [begin, end) along the first axis (samples of a batch); end is clamped to
  // the first dimension.
  Tensor rows(int64_t begin, int64_t end) const;
  // Detach from other holders of the buffer before writing in place.
  void make_unique_storage();
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }
  long use_count() const { return storage_.use_count(); }

  // Element i converted to double / int64 (any numeric dtype, packed included). For tests,
  // constant folding and small shape tensors, not for kernels.
  double get_as_double(int64_t i) const;
  int64_t get_as_int64(int64_t i) const;
  // Integer data of a shape-like tensor (int32 or int64) as int64.
  std::vector<int64_t> to_int64_vector() const;

 private:
  DType dtype_ = DType::Undefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<uint8_t[]> storage_;

  Tensor(DType dtype, Shape shape, bool zero);
};

// Packed 4-bit helpers (ONNX order: even element in the low nibble).
int8_t int4_get(const uint8_t* packed, int64_t i);
uint8_t uint4_get(const uint8_t* packed, int64_t i);
void int4_set(uint8_t* packed, int64_t i, int value);  // value in [-8, 7] or [0, 15]

}  // namespace dyad
