// .npy and TensorProto .pb files: round trips, files numpy wrote, and malformed input.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/tensor_io/input_files.h"
#include "formats/tensor_io/npy.h"
#include "formats/tensor_io/tensor_pb.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

TEST(Npy, ReadsFileWrittenByNumpy) {
  // testdata/fmnist/test_64.npy was written by numpy.save in testdata/make_models.py.
  const Tensor t = read_npy(test::testdata_dir() / "fmnist" / "test_64.npy");
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_EQ(t.shape(), (Shape{64, 1, 28, 28}));
  const Tensor labels = read_npy(test::testdata_dir() / "fmnist" / "test_64_labels.npy");
  EXPECT_EQ(labels.dtype(), DType::Int64);
  EXPECT_EQ(labels.shape(), (Shape{64}));
  // The first Fashion-MNIST test image is an ankle boot (class 9), the second a pullover (2).
  EXPECT_EQ(labels.data<int64_t>()[0], 9);
  EXPECT_EQ(labels.data<int64_t>()[1], 2);
}

TEST(Npy, RoundTripsEveryType) {
  test::TempDir dir;
  for (DType t : {DType::Float32, DType::Float64, DType::Int8, DType::UInt8, DType::Int32, DType::Int64, DType::Bool}) {
    Tensor x(t, {2, 3});
    for (size_t i = 0; i < x.nbytes(); ++i) x.raw()[i] = static_cast<uint8_t>(i * 37 + 1);
    if (t == DType::Bool)
      for (int64_t i = 0; i < 6; ++i) x.raw()[i] = i % 2;
    write_npy(x, dir / "x.npy");
    const Tensor y = read_npy(dir / "x.npy");
    EXPECT_EQ(y.dtype(), t);
    EXPECT_EQ(y.shape(), x.shape());
    EXPECT_EQ(std::memcmp(x.raw(), y.raw(), x.nbytes()), 0) << dtype_name(t);
  }
  // Scalars and 1-D arrays use numpy's () and (n,) spellings.
  write_npy(Tensor::scalar<float>(2.5f), dir / "s.npy");
  EXPECT_EQ(read_npy(dir / "s.npy").shape(), Shape{});
  EXPECT_NE(test::read_file(dir / "s.npy").find("'shape': ()"), std::string::npos);
  write_npy(Tensor::from_vector<int32_t>({1, 2, 3}, {3}), dir / "v.npy");
  EXPECT_NE(test::read_file(dir / "v.npy").find("'shape': (3,)"), std::string::npos);
}

TEST(Npy, RejectsMalformedFiles) {
  test::TempDir dir;
  std::ofstream(dir / "junk.npy") << "not numpy";
  EXPECT_THROW(read_npy(dir / "junk.npy"), Error);
  // A valid header whose data is short by one element.
  Tensor x(DType::Float32, {4});
  std::string bytes = format_npy(x);
  bytes.resize(bytes.size() - 4);
  std::ofstream(dir / "short.npy", std::ios::binary) << bytes;
  try {
    read_npy(dir / "short.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs 16"), std::string::npos) << e.what();
  }
}

TEST(TensorPb, ReadsOnnxConformanceInputs) {
  const auto file = std::filesystem::path("/usr/share/libonnx-testdata/data/node/test_relu/test_data_set_0/input_0.pb");
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "libonnx-testdata not installed";
  std::string name;
  const Tensor t = read_tensor_pb(file, &name);
  EXPECT_EQ(name, "x");
  EXPECT_EQ(t.shape(), (Shape{3, 4, 5}));
}

TEST(TensorPb, RoundTrip) {
  test::TempDir dir;
  const Tensor x = Tensor::from_vector<int64_t>({-5, 0, 7}, {3});
  write_tensor_pb(x, "idx", dir / "x.pb");
  std::string name;
  const Tensor y = read_tensor_pb(dir / "x.pb", &name);
  EXPECT_EQ(name, "idx");
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{-5, 0, 7}));
  EXPECT_EQ(read_tensor_file(dir / "x.pb").numel(), 3);
  EXPECT_THROW(read_tensor_file(dir / "x.txt"), Error);
}

}  // namespace
}  // namespace dyad
