// Tensor storage, shapes, packed int4 and half-precision conversion against hand-derived values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "lib/ir/tensor.h"

namespace dyad {
namespace {

TEST(Shape, NumelAndOverflow) {
  EXPECT_EQ(shape_numel({2, 3, 4}), 24);
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({5, 0, 7}), 0);
  EXPECT_THROW(shape_numel({-1, 3}), Error);
  // 2^32 * 2^32 overflows int64: must be an error, not a wrapped small number.
  try {
    shape_numel({int64_t{1} << 32, int64_t{1} << 32});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("overflows"), std::string::npos) << e.what();
  }
}

TEST(Tensor, CopiesShareStorageUntilMadeUnique) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = a;
  EXPECT_TRUE(b.shares_storage_with(a));
  b.make_unique_storage();
  b.data<float>()[0] = 9;
  EXPECT_EQ(a.data<float>()[0], 1);
  Tensor r = a.reshaped({4});
  EXPECT_TRUE(r.shares_storage_with(a));
  EXPECT_THROW(a.reshaped({3}), Error);
}

TEST(Tensor, StorageIsAlignedFor512BitLoads) {
  for (int n : {1, 3, 17, 1000}) {
    Tensor t(DType::Int8, {n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  }
}

TEST(Int4, PackingMatchesOnnxLayout) {
  // ONNX: element 0 in the low nibble. [1, -2, 7, -8, 3] packs to 0xE1, 0x87, 0x03.
  Tensor t(DType::Int4, {5});
  const int values[] = {1, -2, 7, -8, 3};
  for (int i = 0; i < 5; ++i) int4_set(t.raw(), i, values[i]);
  EXPECT_EQ(t.nbytes(), 3u);
  EXPECT_EQ(t.raw()[0], 0xE1);
  EXPECT_EQ(t.raw()[1], 0x87);
  EXPECT_EQ(t.raw()[2], 0x03);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t.get_as_int64(i), values[i]);
  Tensor u(DType::UInt4, {2});
  int4_set(u.raw(), 0, 15);
  int4_set(u.raw(), 1, 8);
  EXPECT_EQ(u.get_as_int64(0), 15);
  EXPECT_EQ(u.get_as_int64(1), 8);
}

TEST(Half, KnownBitPatterns) {
  EXPECT_EQ(float_to_half(1.0f), 0x3C00);
  EXPECT_EQ(float_to_half(-2.0f), 0xC000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_half(1e6f), 0x7C00);                 // overflow to +inf
  EXPECT_EQ(float_to_half(5.960464477539063e-8f), 0x0001);  // smallest subnormal
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x0001), 5.960464477539063e-8f);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to even (1.0).
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  // Every half value survives a round trip through float.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    if ((bits & 0x7C00) == 0x7C00 && (bits & 0x3FF)) continue;  // NaN payloads
    ASSERT_EQ(float_to_half(half_to_float(bits)), bits) << std::hex << h;
  }
}

}  // namespace
TEST(Tensor, RowsCopiesARangeOfTheFirstAxis) {
  const Tensor t = Tensor::from_vector<int32_t>({0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});
  const Tensor mid = t.rows(1, 3);
  EXPECT_EQ(mid.shape(), (Shape{2, 2}));
  EXPECT_EQ(mid.data<int32_t>()[0], 2);
  EXPECT_EQ(mid.data<int32_t>()[3], 5);
  EXPECT_FALSE(mid.shares_storage_with(t));
  EXPECT_EQ(t.rows(3, 10).shape(), (Shape{1, 2}));  // end clamped to the row count
  EXPECT_THROW(t.rows(3, 2), Error);
  EXPECT_THROW(Tensor::scalar<float>(1.0f).rows(0, 1), Error);
}

}  // namespace dyad
