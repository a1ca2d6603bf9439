// Top-1 accuracy against hand-counted cases, and the float models' recorded test accuracy
// reproduced on the committed 64-image sample.
#include <gtest/gtest.h>

#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "lib/eval/classification.h"
#include "lib/eval/ctc.h"
#include "lib/exec/executor.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

TEST(Top1, CountsArgmaxMatchesWithFirstIndexOnTies) {
  const Tensor logits = Tensor::from_vector<float>({0.1f, 0.9f, 0.0f,   // argmax 1
                                                    2.0f, 2.0f, 1.0f,   // tie: 0
                                                    -1.f, -3.f, -0.5f}, // argmax 2
                                                   {3, 3});
  const Tensor labels = Tensor::from_vector<int64_t>({1, 1, 2}, {3});
  const Top1 r = top1_accuracy(logits, labels);
  EXPECT_EQ(r.correct, 2);
  EXPECT_EQ(r.total, 3);
  EXPECT_THROW(top1_accuracy(logits, Tensor::from_vector<int64_t>({1, 7, 2}, {3})), Error);
  EXPECT_THROW(top1_accuracy(logits, Tensor::from_vector<int64_t>({1, 2}, {2})), Error);
}

TEST(Argmax, RowsWithTheSameBestIndexOverTheLastAxis) {
  // [2, 2, 3]: four rows; rows 0 and 3 agree, row 1 differs, row 2 ties in `a` (first index, 0)
  // and has its maximum at 0 in `b`, so it agrees.
  const Tensor a = Tensor::from_vector<float>({0.1f, 0.7f, 0.2f, 0.5f, 0.4f, 0.1f, 0.3f, 0.3f, 0.3f, 0.f, 0.f, 1.f}, {2, 2, 3});
  const Tensor b = Tensor::from_vector<float>({0.2f, 0.6f, 0.2f, 0.1f, 0.8f, 0.1f, 0.9f, 0.0f, 0.1f, 0.f, 0.2f, 0.5f}, {2, 2, 3});
  EXPECT_EQ(rows_with_same_argmax(a, b), 3);
  EXPECT_EQ(rows_with_same_argmax(a, a), 4);
  EXPECT_THROW(rows_with_same_argmax(a, Tensor::from_vector<float>({1.f, 2.f}, {2})), Error);
}

TEST(Top1, TrainedModelsClassifyMostTestImages) {
  // The models were trained to 87-92% test accuracy (testdata/models/accuracy.json); on the
  // first 64 test images each must get at least 48 right, far above chance (6.4).
  const Tensor images = read_npy(test::testdata_dir() / "fmnist" / "test_64.npy");
  const Tensor labels = read_npy(test::testdata_dir() / "fmnist" / "test_64_labels.npy");
  for (const char* name : {"mlp", "lenet", "resnet_small", "mobilenet_v2_small", "mobilenet_v3_small", "vit_tiny"}) {
    const Model m = load_onnx(test::testdata_dir() / "models" / (std::string(name) + ".onnx"));
    const Top1 r = top1_accuracy(Executor(m).run({{"input", images}})[0], labels);
    EXPECT_GE(r.correct, 48) << name;
  }
}

TEST(Ctc, GreedyDecodeMergesRepeatsAndDropsBlanks) {
  // Two samples, 6 steps, 4 classes. Sample 0's best classes: 1 1 0 1 2 2 -> [1, 1, 2] (the blank
  // separates the two 1s). Sample 1: 0 3 3 0 0 3 -> [3, 3]; its step 0 ties 0 and 2: lowest wins.
  const int best[2][6] = {{1, 1, 0, 1, 2, 2}, {0, 3, 3, 0, 0, 3}};
  Tensor scores(DType::Float32, {2, 6, 4});
  for (int i = 0; i < 2; ++i)
    for (int t = 0; t < 6; ++t)
      for (int k = 0; k < 4; ++k) scores.data<float>()[(i * 6 + t) * 4 + k] = k == best[i][t] ? 0.7f : 0.1f;
  scores.data<float>()[(1 * 6 + 0) * 4 + 2] = 0.7f;
  const auto decoded = ctc_greedy_decode(scores);
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_EQ(decoded[0], (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(decoded[1], (std::vector<int64_t>{3, 3}));
  const std::vector<std::string> charset = {"a", "b", "c", " "};
  EXPECT_EQ(ctc_to_text(decoded[0], charset), "aab");
  EXPECT_EQ(ctc_to_text({4, 1}, charset), " a");
  EXPECT_THROW(ctc_to_text({5}, charset), Error);
}

}  // namespace
}  // namespace dyad
