// W8A8 accuracy on the whole Fashion-MNIST test set (10,000 images, Debian's
// dataset-fashion-mnist), calibrated on 500 training images: every CNN in testdata must stay
// within 0.3 points of its float top-1, the transformer within 1 point. Prints both figures.
#include <gtest/gtest.h>

#include <filesystem>

#include "formats/datasets/idx.h"
#include "lib/compress/compress.h"
#include "lib/eval/classification.h"
#include "lib/exec/executor.h"
#include "formats/onnx/onnx_io.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

const std::filesystem::path kData = "/usr/share/datasets/fashion-mnist";

Top1 evaluate(const Model& m, const Tensor& images, const Tensor& labels) {
  const Executor exec(m, {.threads = 2});
  Top1 total;
  // Batches of 100 keep the int64 temporaries of the requantization chain in the buffer cache.
  for (int64_t b = 0; b < images.dim(0); b += 100) {
    const int64_t e = std::min<int64_t>(b + 100, images.dim(0));
    const Top1 part = top1_accuracy(exec.run({{"input", images.rows(b, e)}})[0], labels.rows(b, e));
    total.correct += part.correct;
    total.total += part.total;
  }
  return total;
}

class FashionAccuracy : public ::testing::TestWithParam<std::string> {};

TEST_P(FashionAccuracy, W8A8CloseToFloat) {
  if (!std::filesystem::exists(kData / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Tensor test_images = normalize_fashion_mnist(read_idx(kData / "t10k-images-idx3-ubyte.gz"));
  const Tensor test_labels = read_idx(kData / "t10k-labels-idx1-ubyte.gz");
  const Tensor calib = normalize_fashion_mnist(read_idx(kData / "train-images-idx3-ubyte.gz").rows(0, 500));
  const Model model = load_onnx(test::testdata_dir() / "models" / (GetParam() + ".onnx"));
  CompressOptions options;
  options.budget = parse_budget("bits=8");
  for (int64_t b = 0; b < 500; b += 100) options.calibration.push_back({{"input", calib.rows(b, b + 100)}});
  options.threads = 2;
  const CompressResult r = compress_model(model, options);
  const Top1 float_top1 = evaluate(model, test_images, test_labels);
  const Top1 int8_top1 = evaluate(r.model, test_images, test_labels);
  std::printf("%s: Fashion-MNIST test top-1 float %.2f%%, W8A8 integer-only %.2f%% (%+.2f points)\n", GetParam().c_str(),
              float_top1.percent(), int8_top1.percent(), int8_top1.percent() - float_top1.percent());
  EXPECT_EQ(float_top1.total, 10000);
  const double allowed_drop = GetParam() == "vit_tiny" ? 1.0 : 0.3;  // the bars
  EXPECT_GE(int8_top1.percent(), float_top1.percent() - allowed_drop) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Testdata, FashionAccuracy, ::testing::Values("mlp", "lenet", "resnet_small", "mobilenet_v2_small", "mobilenet_v3_small", "vit_tiny"));

}  // namespace
}  // namespace dyad
