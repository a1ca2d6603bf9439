// Empirical bias correction (lib/compress/correct_biases.h) on real emitted models: afterwards,
// on the samples it was measured on, every corrected layer's accumulators have the float
// model's per-channel mean to within half an accumulator unit (plus float rounding), because
// each layer was corrected with the ones before it already corrected; and correcting a copy of a
// model leaves the original's biases alone.
#include <gtest/gtest.h>

#include <cmath>

#include "formats/calib_data.h"
#include "formats/onnx/onnx_io.h"
#include "lib/compress/correct_biases.h"
#include "lib/compress/opset_upgrade.h"
#include "lib/exec/executor.h"
#include "lib/passes/passes.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

// Per-channel means of `t` (channels on axis 1, or the last axis).
std::vector<double> channel_means(const Tensor& t, int64_t channels, bool channels_last) {
  std::vector<double> sum(static_cast<size_t>(channels), 0.0);
  const int64_t n = t.numel(), inner = channels_last ? 1 : n / (t.dim(0) * channels);
  for (int64_t i = 0; i < n; ++i) sum[static_cast<size_t>(channels_last ? i % channels : (i / inner) % channels)] += t.get_as_double(i);
  for (auto& s : sum) s /= static_cast<double>(n / channels);
  return sum;
}

TEST(EmpiricalBiasCorrectionSamples, StartPastTheValidationSamplesWhenEnoughRemain) {
  // Two batches of 3 and 4 rows whose values are their sample indices 0..6.
  std::vector<std::map<std::string, Tensor>> batches;
  for (auto [from, rows] : {std::pair<int, int>{0, 3}, {3, 4}}) {
    Tensor t(DType::Float32, {rows, 2});
    for (int r = 0; r < rows; ++r) t.data<float>()[2 * r] = t.data<float>()[2 * r + 1] = static_cast<float>(from + r);
    batches.push_back({{"x", t}});
  }
  const Tensor from2 = leading_samples(batches, 4, int64_t{1} << 20, 2).at("x");
  ASSERT_EQ(from2.dim(0), 4);
  for (int r = 0; r < 4; ++r) EXPECT_EQ(from2.data<float>()[2 * r], static_cast<float>(2 + r));
  const Tensor tail = leading_samples(batches, 100, int64_t{1} << 20, 5).at("x");  // only two left
  ASSERT_EQ(tail.dim(0), 2);
  EXPECT_EQ(tail.data<float>()[0], 5.0f);
  EXPECT_EQ(tail.data<float>()[2], 6.0f);
  // 256 OCR lines, 16 validated: fit on the others. A classifier validated on all 500: no
  // others, so the same ones; so too when fewer than 16 would remain.
  EXPECT_EQ(correction_start(256, 16), 16);
  EXPECT_EQ(correction_start(500, 500), 0);
  EXPECT_EQ(correction_start(30, 16), 0);
}

class EmpiricalBiasCorrection : public ::testing::TestWithParam<std::string> {};

TEST_P(EmpiricalBiasCorrection, AccumulatorMeansMatchFloatAfterwards) {
  Model model = load_onnx(test::testdata_dir() / "models" / (GetParam() + ".onnx"));
  prepare_graph(model);
  const auto batches =
      load_calibration_batches(test::testdata_dir() / "fmnist" / "train_256.npy", model.graph, {.batch_size = 64, .max_samples = 0, .preprocess = {}});
  upgrade_to_emit_opset(model, batches.front(), 2);
  std::map<std::string, int> conv_outputs;
  for (const Node& n : model.graph.nodes)
    if (n.op_type == "Conv") conv_outputs[n.outputs[0]] = 1;
  const CalibrationStats stats = calibrate(model, batches, {.threads = 2, .channel_stats = conv_outputs, .progress = {}});
  const IntegerEmitResult original = emit_integer_onnx(model, stats);
  IntegerEmitResult corrected = original;
  const auto samples = leading_samples(batches, 128, int64_t{1} << 30);
  ASSERT_EQ(samples.begin()->second.dim(0), 128);
  const int layers = correct_biases_empirically(model, corrected, samples, 2);
  EXPECT_GT(layers, 0);

  int changed = 0;
  for (const QuantizedLayer& l : original.layers) {
    if (l.bias_initializer.empty()) continue;
    const Tensor& before = original.model.graph.initializers.at(l.bias_initializer);
    const Tensor& after = corrected.model.graph.initializers.at(l.bias_initializer);
    changed += std::memcmp(before.raw(), after.raw(), before.nbytes()) != 0;
  }
  EXPECT_EQ(changed, layers) << "the copy's correction reached the original, or counts disagree";

  // The corrected model, unfused so that the accumulators exist, against float on the same samples.
  std::map<std::string, Tensor> float_values, accumulators;
  std::map<std::string, const QuantizedLayer*> by_preactivation, by_accumulator;
  for (const QuantizedLayer& l : corrected.layers)
    if (!l.bias_initializer.empty()) by_preactivation[l.preactivation] = by_accumulator[l.accumulator] = &l;
  Executor(model, {.threads = 2, .profile = false, .profile_nodes = false, .fuse_activations = false}).run(samples, [&](const std::string& name, const Tensor& t) {
    if (by_preactivation.count(name)) float_values[name] = t;
  });
  ExecOptions unfused;
  unfused.threads = 2;
  unfused.fuse_integer = false;
  Executor(corrected.model, unfused).run(samples, [&](const std::string& name, const Tensor& t) {
    if (by_accumulator.count(name)) accumulators[name] = t;
  });
  int checked = 0;
  for (const auto& [name, l] : by_accumulator) {
    ASSERT_TRUE(accumulators.count(name) && float_values.count(l->preactivation)) << name;
    const int64_t channels = static_cast<int64_t>(l->accumulator_scales.size());
    const auto integer = channel_means(accumulators.at(name), channels, l->channels_last);
    const auto real = channel_means(float_values.at(l->preactivation), channels, l->channels_last);
    for (int64_t c = 0; c < channels; ++c) {
      const double scale = l->accumulator_scales[static_cast<size_t>(c)];
      EXPECT_NEAR(integer[static_cast<size_t>(c)] * scale, real[static_cast<size_t>(c)], 0.5 * scale + 1e-5 * std::fabs(real[static_cast<size_t>(c)]))
          << l->node << " channel " << c;
    }
    ++checked;
  }
  EXPECT_GE(checked, layers);
}

INSTANTIATE_TEST_SUITE_P(Testdata, EmpiricalBiasCorrection, ::testing::Values("lenet", "resnet_small", "mobilenet_v3_small", "vit_tiny"));

}  // namespace
}  // namespace dyad
