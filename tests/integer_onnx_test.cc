// W8A8 emission on the testdata CNNs. Integer-only: the graph is integer from the input quantizer
// to the output dequantizer, ONNX Runtime runs it and agrees with Dyad's executor bit for bit on
// real images, and the accuracy on them stays close to the float model's. QDQ: ONNX Runtime runs
// it within a few output steps of the integer-only model.
#include <gtest/gtest.h>

#include <set>

#include "formats/calib_data.h"
#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "lib/eval/classification.h"
#include "lib/exec/executor.h"
#include "lib/ir/inline_functions.h"
#include "lib/passes/passes.h"
#include "lib/quant/integer_onnx.h"
#include "lib/quant/quant_params.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

// Emits `name` with `options`, checks the graph is integer only, that ONNX Runtime agrees with
// Dyad's executor bit for bit and that top-1 on 64 test images stays close to float.
void check_integer_only(const std::string& name, const IntegerEmitOptions& options) {
  Model model = load_onnx(test::testdata_dir() / "models" / (name + ".onnx"));
  prepare_graph(model);
  const auto images_file = test::testdata_dir() / "fmnist" / "test_64.npy";
  const auto batches = load_calibration_batches(images_file, model.graph, {.batch_size = 16, .max_samples = 0, .preprocess = {}});
  // Per-channel ranges of the conv outputs, as compress collects them: depthwise layers whose
  // outputs only tables read (mobilenet_v3_small's hard-swish) are then requantized per channel.
  std::map<std::string, int> conv_outputs;
  for (const Node& n : model.graph.nodes)
    if (n.op_type == "Conv") conv_outputs[n.outputs[0]] = 1;
  const CalibrationStats stats = calibrate(model, batches, {.threads = 2, .channel_stats = conv_outputs, .progress = {}});
  const IntegerEmitResult emitted = emit_integer_onnx(model, stats, options);
  if (name == "mobilenet_v3_small") {
    int per_channel = 0;
    for (const auto& t : emitted.tensors) per_channel += !t.channel_scales.empty();
    EXPECT_GT(per_channel, 0) << "no depthwise output quantized per channel";
  }
  if (options.table_index_bits > 8) {
    int wide = 0;
    for (const Node& n : emitted.model.graph.nodes) wide += n.op_type == "DyadicRequantIndex";
    EXPECT_GT(wide, 0) << "no table indexed by a wide DyadicRequantIndex";
  }
  EXPECT_TRUE(emitted.float_islands.empty()) << emitted.float_islands.front();
  EXPECT_GT(emitted.quantized_layers, 0);

  test::TempDir dir;
  save_onnx(emitted.model, dir / "int8.onnx");
  const Model reloaded = load_onnx(dir / "int8.onnx");  // ONNX's checker and shape inference run here

  // Integer only: after inlining the helper functions, every op is an integer op, apart from one
  // QuantizeLinear per input and one DequantizeLinear per output.
  static const std::set<std::string> integer_ops = {
      "ConvInteger", "MatMulInteger", "Add", "Sub", "Mul", "Mod", "Div", "Less", "Greater", "Where", "Cast", "Max", "Min",
      "Clip", "MaxPool", "Pad", "ReduceSum", "ReduceMax", "ReduceProd", "Gather", "Constant", "Reshape", "Flatten", "Transpose", "Squeeze",
      "Unsqueeze", "Identity", "Concat", "Slice", "Split", "Shape"};
  int quantizers = 0, dequantizers = 0;
  for (const Node& n : inline_functions(reloaded).nodes) {
    if (n.op_type == "QuantizeLinear") ++quantizers;
    else if (n.op_type == "DequantizeLinear") ++dequantizers;
    else EXPECT_TRUE(integer_ops.count(n.op_type)) << name << ": float op " << n.op_type;
  }
  EXPECT_EQ(quantizers, static_cast<int>(model.graph.inputs.size()));
  EXPECT_EQ(dequantizers, static_cast<int>(model.graph.outputs.size()));

  const Tensor images = read_npy(images_file);
  const std::map<std::string, Tensor> inputs{{"input", images}};
  const Tensor ours = Executor(reloaded).run(inputs)[0];
  if (test::ort_available()) {
    const Tensor theirs = test::run_onnxruntime(dir / "int8.onnx", inputs, {reloaded.graph.outputs[0].name})[0];
    EXPECT_EQ(test::max_abs_diff(ours, theirs), 0.0) << name << ": ONNX Runtime differs from Dyad's executor";
  }
  // A classifier's logits come straight from the last layer's int32 accumulators (one
  // DequantizeLinear per channel scale), not through 256 uint8 levels.
  EXPECT_TRUE(emitted.layers.back().float_output) << name << ": the last layer's output went through uint8";
  const std::set<float> distinct(ours.data<float>(), ours.data<float>() + ours.numel());
  EXPECT_GT(distinct.size(), 256u) << name << ": the logits take at most 256 values";
  const Tensor labels = read_npy(test::testdata_dir() / "fmnist" / "test_64_labels.npy");
  const Top1 float_top1 = top1_accuracy(Executor(model).run(inputs)[0], labels), int8_top1 = top1_accuracy(ours, labels);
  std::printf("%s: %d layers integer; top-1 on 64 test images: float %lld, W8A8 %lld\n", name.c_str(),
              emitted.quantized_layers, static_cast<long long>(float_top1.correct), static_cast<long long>(int8_top1.correct));
  EXPECT_GE(int8_top1.correct, float_top1.correct - 2) << name;
}


class IntegerOnnx : public ::testing::TestWithParam<std::string> {};

TEST_P(IntegerOnnx, IntegerOnlyBitExactInOnnxRuntimeAndAccurate) { check_integer_only(GetParam(), {}); }

// Tables indexed by 12-bit DyadicRequantIndex outputs (hard-swish per channel in MobileNetV3,
// GELU per tensor in the ViT): still integer only and bit-exact in ONNX Runtime.
TEST(IntegerOnnxWideTables, BitExactInOnnxRuntime) {
  IntegerEmitOptions options;
  options.table_index_bits = 12;
  for (const std::string name : {"mobilenet_v3_small", "vit_tiny"}) {
    SCOPED_TRACE(name);
    check_integer_only(name, options);
  }
}

INSTANTIATE_TEST_SUITE_P(Testdata, IntegerOnnx, ::testing::Values("mlp", "lenet", "resnet_small", "mobilenet_v2_small", "mobilenet_v3_small", "vit_tiny"));

class QdqOnnx : public ::testing::TestWithParam<std::string> {};

TEST_P(QdqOnnx, RunsInOnnxRuntimeCloseToTheIntegerModel) {
  // The same quantization in QDQ form. ORT requantizes QDQ in float32 (round half to even), the
  // integer model exactly (half up), so outputs may differ by an LSB per layer
  // (../shared/docs/onnx-integer.md §3), never by more than a few output steps in total.
  if (!test::ort_available()) GTEST_SKIP() << "onnxruntime-node not installed";
  Model model = load_onnx(test::testdata_dir() / "models" / (GetParam() + ".onnx"));
  prepare_graph(model);
  const auto images_file = test::testdata_dir() / "fmnist" / "test_64.npy";
  const auto batches = load_calibration_batches(images_file, model.graph, {.batch_size = 16, .max_samples = 0, .preprocess = {}});
  const CalibrationStats stats = calibrate(model, batches, {.threads = 2, .channel_stats = {}, .progress = {}});
  IntegerEmitOptions qdq_options;
  qdq_options.format = QuantFormat::Qdq;
  const IntegerEmitResult qdq = emit_integer_onnx(model, stats, qdq_options), integer = emit_integer_onnx(model, stats);
  EXPECT_TRUE(qdq.float_islands.empty()) << qdq.float_islands.front();
  EXPECT_EQ(qdq.quantized_layers, integer.quantized_layers);
  test::TempDir dir;
  save_onnx(qdq.model, dir / "qdq.onnx");
  const Model reloaded = load_onnx(dir / "qdq.onnx");  // ONNX's checker runs here
  for (const Node& n : reloaded.graph.nodes) EXPECT_NE(n.op_type, "ConvInteger");
  const Tensor images = read_npy(images_file);
  const std::map<std::string, Tensor> inputs{{"input", images}};
  const Tensor ort_qdq = test::run_onnxruntime(dir / "qdq.onnx", inputs, {reloaded.graph.outputs[0].name})[0];
  const Tensor exact = Executor(integer.model).run(inputs)[0];
  // The output's step at 8 bits (the last layer's accumulators are dequantized to float, so it
  // has none of its own).
  const float output_step = integer.layers.back().float_output
                                ? uint8_quant(stats.tensors.at(model.graph.outputs[0].name).range(CalibMethod::Percentile)).scale
                                : integer.layers.back().output_scale;
  const double diff = test::max_abs_diff(ort_qdq, exact);
  std::printf("%s: QDQ in ONNX Runtime vs integer-only: max difference %.4g = %.1f output steps\n", GetParam().c_str(), diff,
              diff / output_step);
  EXPECT_LE(diff, 4.0 * output_step) << GetParam();
  const Tensor labels = read_npy(test::testdata_dir() / "fmnist" / "test_64_labels.npy");
  EXPECT_GE(top1_accuracy(ort_qdq, labels).correct, top1_accuracy(exact, labels).correct - 1) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Testdata, QdqOnnx, ::testing::Values("mlp", "lenet", "resnet_small", "mobilenet_v2_small", "mobilenet_v3_small"));

TEST(IntegerOnnxInput, AGraphInputKeepsItsWholeObservedRange) {
  // One bright pixel far above the rest: percentile clipping drops it from the range, but the
  // input quantizer still covers [min, max] (anything clipped there is lost for good).
  Model model = load_onnx(test::testdata_dir() / "models" / "lenet.onnx");
  prepare_graph(model);
  Tensor images = read_npy(test::testdata_dir() / "fmnist" / "test_64.npy");
  images.make_unique_storage();
  images.data<float>()[100] = 40.0f;
  const CalibrationStats stats = calibrate(model, {{{"input", images}}}, {.threads = 2, .channel_stats = {}, .progress = {}});
  IntegerEmitOptions options;
  options.method = CalibMethod::Percentile;
  options.percentile = 99.0;
  const IntegerEmitResult emitted = emit_integer_onnx(model, stats, options);
  const ActivationObserver& observed = stats.tensors.at("input");
  const FloatRange clipped = observed.range(CalibMethod::Percentile, 99.0);
  ASSERT_LT(clipped.max, 20.0f) << "the percentile range should drop the outlier";
  bool found = false;
  for (const QuantizedTensor& t : emitted.tensors) {
    if (t.float_name != "input") continue;
    found = true;
    const float lowest = t.scale * (0 - t.zero_point), highest = t.scale * (255 - t.zero_point);
    EXPECT_LE(lowest, observed.min() + t.scale) << "input range starts above its observed minimum";
    EXPECT_GE(highest, observed.max() - t.scale) << "input range ends below its observed maximum (clipped)";
  }
  EXPECT_TRUE(found) << "no quantization recorded for the input";
}

TEST(IntegerOnnxErrors, ModelWithoutQuantizableLayers) {
  Model m;
  m.opset_imports = {{"", 17}};
  m.graph.inputs.push_back({"x", DType::Float32, false, {}});
  m.graph.nodes.push_back(Node{"r", "Relu", "", {"x"}, {"y"}, {}});
  m.graph.outputs.push_back({"y", DType::Float32, false, {}});
  CalibrationStats stats;
  const float v[] = {-1.0f, 1.0f};
  stats.tensors["x"].observe(v, 2);
  stats.tensors["y"].observe(v, 2);
  EXPECT_THROW(emit_integer_onnx(m, stats), Error);
}

}  // namespace
}  // namespace dyad
