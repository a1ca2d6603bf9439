// Our float executor against ONNX Runtime on real models and real inputs: the Fashion-MNIST
// models in testdata/ (test-set images) and the pretrained PP-OCRv4 detection and recognition
// models (rendered text). The largest difference must be at most 1e-4 of the output's range.
#include <gtest/gtest.h>

#include <cstdio>

#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "lib/exec/executor.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

using test::testdata_dir;

void expect_agreement(const std::filesystem::path& model_path, const Tensor& input) {
  const Model model = load_onnx(model_path);
  ASSERT_EQ(model.graph.inputs.size(), 1u);
  const std::map<std::string, Tensor> inputs{{model.graph.inputs[0].name, input}};
  Executor exec(model, {.threads = 2});
  const auto ours = exec.run(inputs);
  std::vector<std::string> names;
  for (const auto& o : model.graph.outputs) names.push_back(o.name);
  const auto theirs = test::run_onnxruntime(model_path, inputs, names);
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    ASSERT_EQ(ours[i].shape(), theirs[i].shape()) << names[i];
    const double diff = test::max_abs_diff(ours[i], theirs[i]), range = test::value_range(theirs[i]);
    EXPECT_LE(diff, 1e-4 * range) << model_path.filename() << " output " << names[i] << ": max |diff| " << diff
                                  << " vs range " << range;
    std::printf("%s output %s: max |dyad - ort| = %.3g, %.3g of the output range %.3g\n",
                model_path.filename().c_str(), names[i].c_str(), diff, diff / std::max(range, 1e-30), range);
  }
}

class FashionModels : public ::testing::TestWithParam<std::string> {};

TEST_P(FashionModels, MatchesOnnxRuntimeOnTestImages) {
  if (!test::ort_available()) GTEST_SKIP() << "onnxruntime-node not installed (scripts/install_ort.sh)";
  expect_agreement(testdata_dir() / "models" / (GetParam() + ".onnx"), read_npy(testdata_dir() / "fmnist" / "test_64.npy"));
}

INSTANTIATE_TEST_SUITE_P(Testdata, FashionModels,
                         ::testing::Values("mlp", "lenet", "resnet_small", "mobilenet_v2_small", "mobilenet_v3_small", "vit_tiny"));

TEST(PPOCRv4, RecognitionMatchesOnnxRuntimeOnRenderedText) {
  if (!test::ort_available() || test::ocr_models_dir().empty()) GTEST_SKIP() << "run scripts/install_ort.sh and scripts/install_ocr_models.sh";
  expect_agreement(test::ocr_models_dir() / "ch_PP-OCRv4_rec_infer.onnx", read_npy(testdata_dir() / "ocr" / "rec_lines.npy"));
}

TEST(PPOCRv4, DetectionMatchesOnnxRuntimeOnRenderedPage) {
  if (!test::ort_available() || test::ocr_models_dir().empty()) GTEST_SKIP() << "run scripts/install_ort.sh and scripts/install_ocr_models.sh";
  expect_agreement(test::ocr_models_dir() / "ch_PP-OCRv4_det_infer.onnx", read_npy(testdata_dir() / "ocr" / "det_page.npy"));
}

}  // namespace
}  // namespace dyad
