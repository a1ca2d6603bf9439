// Element types. The numeric values are ONNX's TensorProto.DataType codes, so conversion to and
// from ONNX is a cast; Int4/UInt4 are the packed opset-21 types (two elements per byte, first
// element in the low nibble, as ONNX and ONNX Runtime pack them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace dyad {

enum class DType : int32_t {
  Undefined = 0,
  Float32 = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,
  Bool = 9,
  Float16 = 10,
  Float64 = 11,
  UInt32 = 12,
  UInt64 = 13,
  BFloat16 = 16,
  UInt4 = 21,
  Int4 = 22,
};

// Name as ONNX prints it ("float", "int8", "int4", ...).
std::string dtype_name(DType t);
// Bits per element: 4 for the packed types, 8 * byte size for the rest, 0 for String/Undefined.
int dtype_bits(DType t);
// Bytes needed for `count` elements (packed types round up to whole bytes).
size_t dtype_storage_bytes(DType t, int64_t count);
bool dtype_is_known(int32_t onnx_code);
bool dtype_is_float(DType t);    // Float32, Float16, Float64, BFloat16
bool dtype_is_integer(DType t);  // signed or unsigned, packed included; not Bool

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::Float32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::Float64; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::Int16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::UInt16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::UInt32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::UInt64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };

// IEEE half <-> float, round to nearest even on the way down.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bfloat16_to_float(uint16_t h);

}  // namespace dyad
