// Calibration data loading (.npy, .npz, ONNX test-data folders) and the calibration driver:
// shapes checked against the model, batches split as asked, every float value observed before
// activations.
#include <gtest/gtest.h>

#include <functional>

#include "formats/calib_data.h"
#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "formats/tensor_io/npz.h"
#include "lib/calib/calibrate.h"
#include "lib/passes/passes.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

using test::error_of;

TEST(Npz, ReadsArchivesWrittenByNumpy) {
  for (const char* file : {"stored.npz", "deflated.npz"}) {
    const auto arrays = read_npz(test::testdata_dir() / "npz" / file);
    ASSERT_EQ(arrays.size(), 2u) << file;
    const Tensor& images = arrays.at("images");
    EXPECT_EQ(images.shape(), (Shape{2, 3, 4}));
    EXPECT_FLOAT_EQ(images.data<float>()[23], 23.0f / 7.0f) << file;
    EXPECT_EQ(arrays.at("labels").to_int64_vector(), (std::vector<int64_t>{1, -2, 3, 4}));
  }
  test::TempDir dir;
  std::string bytes = test::read_file(test::testdata_dir() / "npz" / "stored.npz");
  test::write_file(dir / "cut.npz", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(read_npz(dir / "cut.npz"), Error);
}

TEST(CalibrationData, SplitsNpyIntoBatchesAndChecksShapes) {
  const Model m = load_onnx(test::testdata_dir() / "models" / "lenet.onnx");
  const auto file = test::testdata_dir() / "fmnist" / "test_64.npy";
  const auto batches = load_calibration_batches(file, m.graph, {.batch_size = 24, .max_samples = 0, .preprocess = {}});
  ASSERT_EQ(batches.size(), 3u);  // 24 + 24 + 16
  EXPECT_EQ(batches[2].at("input").shape(), (Shape{16, 1, 28, 28}));
  EXPECT_EQ(load_calibration_batches(file, m.graph, {.batch_size = 8, .max_samples = 20, .preprocess = {}}).size(), 3u);  // 8 + 8 + 4
  test::TempDir dir;
  write_npy(Tensor(DType::Float32, {10, 28, 28}), dir / "rank.npy");
  EXPECT_NE(error_of([&] { load_calibration_batches(dir / "rank.npy", m.graph); })
                .find("calibration data for input 'input': expected float [N,1,28,28] (N samples), got float [10,28,28]"),
            std::string::npos);
  write_npy(Tensor(DType::Float64, {10, 1, 28, 28}), dir / "double.npy");
  EXPECT_NE(error_of([&] { load_calibration_batches(dir / "double.npy", m.graph); }).find("got double [10,1,28,28]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_calibration_batches(test::testdata_dir() / "npz" / "stored.npz", m.graph); })
                .find("no array named 'input' for the model's input (the archive has: images, labels)"),
            std::string::npos);
}

TEST(CalibrationData, SyntheticInputsAreDeterministicAndShapedLikeTheModel) {
  const Model m = load_onnx(test::testdata_dir() / "models" / "lenet.onnx");
  const auto a = synthetic_calibration_batches(m.graph, 40, {.batch_size = 16, .max_samples = 0, .preprocess = {}}, 7);
  const auto b = synthetic_calibration_batches(m.graph, 40, {.batch_size = 16, .max_samples = 0, .preprocess = {}}, 7);
  ASSERT_EQ(a.size(), 3u);  // 16 + 16 + 8
  EXPECT_EQ(a[2].at("input").shape(), (Shape{8, 1, 28, 28}));
  EXPECT_EQ(test::max_abs_diff(a[0].at("input"), b[0].at("input")), 0.0);
  // Mean near 0 and variance near 1 over 12,544 draws.
  const Tensor& t = a[0].at("input");
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < t.numel(); ++i) sum += t.data<float>()[i], sq += t.data<float>()[i] * t.data<float>()[i];
  EXPECT_NEAR(sum / t.numel(), 0.0, 0.05);
  EXPECT_NEAR(sq / t.numel(), 1.0, 0.05);
  Model dynamic = m;
  dynamic.graph.inputs[0].dims[2] = Dim{-1, "height"};
  EXPECT_NE(error_of([&] { synthetic_calibration_batches(dynamic.graph, 8); }).find("needs every dimension after the first"),
            std::string::npos);
}

TEST(CalibrationData, ReadsOnnxTestDataFolders) {
  const auto dir = std::filesystem::path("/usr/share/libonnx-testdata/data/node/test_relu");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "libonnx-testdata not installed";
  const Model m = load_onnx(dir / "model.onnx");
  const auto batches = load_calibration_batches(dir, m.graph);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].at("x").shape(), (Shape{3, 4, 5}));
}

TEST(Calibrate, ObservesInputsAndEveryFloatValueBeforeActivations) {
  Model m = load_onnx(test::testdata_dir() / "models" / "resnet_small.onnx");
  prepare_graph(m);
  const auto file = test::testdata_dir() / "fmnist" / "test_64.npy";
  const auto batches = load_calibration_batches(file, m.graph, {.batch_size = 16, .max_samples = 0, .preprocess = {}});
  std::vector<std::pair<int64_t, int64_t>> progress;
  const CalibrationStats stats =
      calibrate(m, batches, {.threads = 2, .channel_stats = {}, .progress = [&](int64_t done, int64_t all) { progress.emplace_back(done, all); }});
  EXPECT_EQ(stats.samples, 64);
  EXPECT_EQ(stats.batches, 4);
  EXPECT_EQ(progress.back(), std::make_pair(int64_t{4}, int64_t{4}));
  // The input's observed extremes are the data's own.
  const Tensor images = read_npy(file);
  float lo = images.data<float>()[0], hi = lo;
  for (int64_t i = 0; i < images.numel(); ++i) lo = std::min(lo, images.data<float>()[i]), hi = std::max(hi, images.data<float>()[i]);
  EXPECT_EQ(stats.tensors.at("input").min(), lo);
  EXPECT_EQ(stats.tensors.at("input").max(), hi);
  // One observer per node output, and a Conv followed by Relu is seen with its negative values.
  size_t outputs = 0;
  for (const auto& n : m.graph.nodes) outputs += n.outputs.size();
  EXPECT_EQ(stats.tensors.size(), outputs + 1);
  for (const auto& n : m.graph.nodes) {
    if (n.op_type != "Relu") continue;
    const int p = m.graph.producer(n.inputs[0]);
    if (p >= 0 && m.graph.nodes[static_cast<size_t>(p)].op_type == "Conv") {
      EXPECT_LT(stats.tensors.at(n.inputs[0]).min(), 0.0f) << n.inputs[0];
      EXPECT_EQ(stats.tensors.at(n.outputs[0]).min(), 0.0f);
    }
  }
}

}  // namespace
}  // namespace dyad
