// The compress command as a user runs it: help, inspect, run, and the bad-input contract
// (one line on stderr naming the problem, exit 1 or 2 for usage, no output file).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "formats/onnx/onnx_io.h"
#include "formats/onnx/onnx_text.h"
#include "formats/tensor_io/npy.h"
#include "lib/exec/executor.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

namespace fs = std::filesystem;
using test::run_command;

std::string compress(const std::string& args) { return "'" + test::compress_binary() + "' " + args; }
std::string model_path(const std::string& name) { return (test::testdata_dir() / "models" / (name + ".onnx")).string(); }
std::string images() { return (test::testdata_dir() / "fmnist" / "test_64.npy").string(); }

// A failure as the contract wants it: exit code, one line on stderr containing `fragment`.
void expect_clean_failure(const test::CommandResult& r, int exit_code, const std::string& fragment) {
  EXPECT_EQ(r.exit_code, exit_code) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr must be one line: " << r.err;
}

TEST(Cli, HelpShowsExamples) {
  const auto r = run_command(compress("--help"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  EXPECT_NE(r.out.find("compress inspect model.onnx"), std::string::npos);
}

TEST(Cli, InspectPrintsShapesOpsParametersAndMacs) {
  const auto r = run_command(compress("inspect " + model_path("resnet_small")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("input                    float    [batch,1,28,28]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BatchNormalization       9"), std::string::npos);
  EXPECT_NE(r.out.find("Conv                     9"), std::string::npos);
  // 16*1*3*3 + 9 convs ... : the parameter count of ResNetSmall as torch counts it (78,250 plus
  // BatchNorm running statistics 2*(16*3+32*3+64*3) = 672) is 78.9 k; the 306 KiB are float32.
  EXPECT_NE(r.out.find("parameters: "), std::string::npos);
  // First conv: 16 outputs of 28x28, each a 3x3x1 window: 16*784*9 = 112,896 MACs.
  EXPECT_NE(r.out.find("112.9 k"), std::string::npos) << r.out;
}

TEST(Cli, RunWritesEachOutputAsNpy) {
  test::TempDir dir;
  const auto r = run_command(compress("run " + model_path("lenet") + " --input " + images() + " --output-dir " + (dir / "out").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Tensor logits = read_npy(dir / "out" / "logits.npy");
  const Model m = load_onnx(model_path("lenet"));
  const Tensor expected = Executor(m).run({{"input", read_npy(images())}})[0];
  EXPECT_EQ(test::max_abs_diff(logits, expected), 0.0);
  // Named form of --input gives the same.
  const auto named = run_command(compress("run " + model_path("lenet") + " --input input=" + images() + " -o " + (dir / "o2").string()));
  ASSERT_EQ(named.exit_code, 0) << named.err;
  EXPECT_EQ(test::read_file(dir / "out" / "logits.npy"), test::read_file(dir / "o2" / "logits.npy"));
  // --repeat times the runs and still writes the same outputs; 0 is a usage error.
  const auto timed = run_command(compress("run " + model_path("lenet") + " --input " + images() + " -o " + (dir / "o3").string() + " --repeat 3"));
  ASSERT_EQ(timed.exit_code, 0) << timed.err;
  EXPECT_NE(timed.out.find("latency over 3 runs: median "), std::string::npos) << timed.out;
  EXPECT_EQ(test::read_file(dir / "out" / "logits.npy"), test::read_file(dir / "o3" / "logits.npy"));
  EXPECT_EQ(run_command(compress("run " + model_path("lenet") + " --input " + images() + " -o " + (dir / "o4").string() + " --repeat 0")).exit_code, 2);
}

TEST(Cli, TruncatedOrNonOnnxModel) {
  test::TempDir dir;
  const std::string bytes = test::read_file(model_path("mlp"));
  std::ofstream(dir / "cut.onnx", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  expect_clean_failure(run_command(compress("inspect " + (dir / "cut.onnx").string())), 1, "not an ONNX model");
  expect_clean_failure(run_command(compress("run " + (dir / "cut.onnx").string() + " --input " + images() + " -o " + (dir / "o").string())),
                       1, "not an ONNX model");
  EXPECT_FALSE(fs::exists(dir / "o"));
  std::ofstream(dir / "notes.onnx") << "these are my notes\n";
  expect_clean_failure(run_command(compress("inspect " + (dir / "notes.onnx").string())), 1, "not an ONNX model");
}

TEST(Cli, UnsupportedOpsAreListedWithTheirNodes) {
  test::TempDir dir;
  const Model m = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[2,2] x) => (float[2,2] y) {
  a = Einsum <equation = "ij->ji"> (x)
  b = Relu (a)
  y = Trilu (b)
})");
  Model named = m;
  named.graph.nodes[0].name = "transpose_by_einsum";
  named.graph.nodes[2].name = "upper";
  save_onnx(named, dir / "m.onnx");
  Tensor x(DType::Float32, {2, 2});
  write_npy(x, dir / "x.npy");
  const auto r = run_command(compress("run " + (dir / "m.onnx").string() + " --input " + (dir / "x.npy").string() + " -o " + (dir / "o").string()));
  expect_clean_failure(r, 1, "unsupported ops: Einsum (node 'transpose_by_einsum'); Trilu (node 'upper')");
  EXPECT_FALSE(fs::exists(dir / "o"));
}

TEST(Cli, MissingOrMisShapedInputFile) {
  test::TempDir dir;
  const std::string run = "run " + model_path("lenet") + " -o " + (dir / "o").string();
  expect_clean_failure(run_command(compress(run + " --input " + (dir / "absent.npy").string())), 1, "no such file");
  write_npy(Tensor(DType::Float32, {2, 1, 32, 32}), dir / "big.npy");
  expect_clean_failure(run_command(compress(run + " --input " + (dir / "big.npy").string())), 1,
                       "input 'input' has shape [2,1,32,32] but the model expects [batch,1,28,28]");
  write_npy(Tensor(DType::Int64, {2, 1, 28, 28}), dir / "ints.npy");
  expect_clean_failure(run_command(compress(run + " --input " + (dir / "ints.npy").string())), 1, "has type int64");
  expect_clean_failure(run_command(compress(run + " --input nosuch=" + images())), 2,
                       "no input named 'nosuch' (its inputs: input)");
  EXPECT_FALSE(fs::exists(dir / "o"));
}

TEST(Cli, MalformedTensorsAndEscapingExternalData) {
  test::TempDir dir;
  const std::string out = " -o " + (dir / "o").string() + " --input " + (dir / "x.npy").string();
  write_npy(Tensor(DType::Float32, {4}), dir / "x.npy");
  test::write_file(dir / "short.onnx", test::model_with_initializer([](onnx::TensorProto& w) { w.set_raw_data(std::string(12, '\0')); }));
  expect_clean_failure(run_command(compress("run " + (dir / "short.onnx").string() + out)), 1,
                       "tensor 'w': raw data is 12 bytes but shape [4] of type float needs 16");
  test::write_file(dir / "huge.onnx", test::model_with_initializer([](onnx::TensorProto& w) {
                     w.clear_dims();
                     w.add_dims(int64_t{1} << 40);
                     w.add_dims(int64_t{1} << 40);
                   }));
  expect_clean_failure(run_command(compress("inspect " + (dir / "huge.onnx").string())), 1, "overflows");
  fs::create_directories(dir / "m");
  test::write_file(dir / "secret.bin", std::string(16, '\1'));
  test::write_file(dir / "m" / "escape.onnx", test::external_data_model("../secret.bin"));
  expect_clean_failure(run_command(compress("run " + (dir / "m" / "escape.onnx").string() + out)), 1,
                       "tensor 'w': external data path '../secret.bin' leaves the model's folder");
  test::write_file(dir / "m" / "absolute.onnx", test::external_data_model((dir / "secret.bin").string()));
  expect_clean_failure(run_command(compress("inspect " + (dir / "m" / "absolute.onnx").string())), 1, "is absolute");
  EXPECT_FALSE(fs::exists(dir / "o"));
}

TEST(Cli, CompressWritesAnIntegerModelAndAReportDeterministically) {
  test::TempDir dir;
  const std::string args = " --budget bits=8 --calib " + images() + " --batch-size 16";
  const auto r = run_command(compress(model_path("lenet") + args + " -o " + (dir / "a.onnx").string() + " --report " +
                                      (dir / "a.json").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("layers W8A8 integer-only, 0 float islands"), std::string::npos) << r.out;
  const Model m = load_onnx(dir / "a.onnx");
  EXPECT_EQ(m.opset("ai.dyad"), 1);
  const std::string report = test::read_file(dir / "a.json");
  EXPECT_NE(report.find("\"quantized_layers\": 5"), std::string::npos) << report;
  EXPECT_NE(report.find("\"output_sqnr_db\""), std::string::npos);
  // Same inputs, same bytes.
  ASSERT_EQ(run_command(compress(model_path("lenet") + args + " -o " + (dir / "b.onnx").string() + " --report " +
                                 (dir / "b.json").string()))
                .exit_code,
            0);
  EXPECT_EQ(test::read_file(dir / "a.onnx"), test::read_file(dir / "b.onnx"));
  EXPECT_EQ(report, test::read_file(dir / "b.json"));
  // The QDQ form: float ops between QuantizeLinear and DequantizeLinear, no integer helpers.
  const auto qdq = run_command(compress(model_path("lenet") + args + " --format qdq -o " + (dir / "q.onnx").string()));
  ASSERT_EQ(qdq.exit_code, 0) << qdq.err;
  EXPECT_NE(qdq.out.find("layers W8A8 in QDQ form"), std::string::npos) << qdq.out;
  const Model q = load_onnx(dir / "q.onnx");
  EXPECT_EQ(q.opset("ai.dyad"), 0);
  EXPECT_TRUE(std::any_of(q.graph.nodes.begin(), q.graph.nodes.end(), [](const Node& n) { return n.op_type == "Conv"; }));
}

TEST(Cli, CompressRefusesWhatItCannotDoAndLeavesNothing) {
  test::TempDir dir;
  const std::string out = " -o " + (dir / "out.onnx").string();
  const std::string calib = " --calib " + images();
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits=4" + calib + out)), 1,
                       "budget 'bits=4' cannot be met yet: only bits=8");
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget size=25%" + calib + out)), 1, "cannot be met yet");
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits" + calib + out)), 2, "is not KEY=VALUE");
  const auto synthetic = run_command(compress(model_path("lenet") + " --budget bits=8 --max-samples 64" + " -o " + (dir / "syn.onnx").string()));
  EXPECT_EQ(synthetic.exit_code, 0) << synthetic.err;
  EXPECT_NE(synthetic.err.find("warning: no --calib given; calibrating on 64 synthetic N(0,1) inputs"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "syn.onnx"));
  fs::remove(dir / "syn.onnx");
  write_npy(Tensor(DType::Float32, {8, 3, 28, 28}), dir / "rgb.npy");
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits=8 --calib " + (dir / "rgb.npy").string() + out)),
                       1, "calibration data for input 'input': expected float [N,1,28,28] (N samples), got float [8,3,28,28]");
  const Model relu_only = parse_onnx_text(R"(<ir_version: 8, opset_import: ["" : 17]>
g (float[N,1,28,28] input) => (float[N,1,28,28] y) { y = Relu(input) })");
  save_onnx(relu_only, dir / "relu.onnx");
  expect_clean_failure(run_command(compress((dir / "relu.onnx").string() + " --budget bits=8" + calib + out)), 1,
                       "no quantizable layer");
  EXPECT_FALSE(fs::exists(dir / "out.onnx"));
  // The output may never be the input: refused before any work, input untouched.
  fs::copy_file(model_path("lenet"), dir / "m.onnx");
  const std::string before = test::read_file(dir / "m.onnx");
  expect_clean_failure(run_command(compress((dir / "m.onnx").string() + " --budget bits=8" + calib + " -o " + (dir / "m.onnx").string())),
                       2, "is the input model");
  EXPECT_EQ(test::read_file(dir / "m.onnx"), before);
}

TEST(Cli, ImageFolderCalibrationKeepFloatAndTheirErrors) {
  test::TempDir dir;
  // A folder of PNGs for LeNet (1x28x28): the gray test images resized, normalised like the model's data.
  const std::string folder = (test::testdata_dir() / "images").string();
  const std::string pre = " --preprocess size=28x28,mean=0.2860,std=0.3530";
  const auto r = run_command(compress(model_path("lenet") + " --budget bits=8 --calib " + folder + pre + " --keep-float Gemm -o " +
                                      (dir / "a.onnx").string() + " --report " + (dir / "a.json").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string report = test::read_file(dir / "a.json");
  EXPECT_NE(report.find("\"samples\": 6"), std::string::npos) << report;  // six images in testdata/images
  EXPECT_NE(report.find("\"float_islands\": [\"Gemm"), std::string::npos) << report;
  EXPECT_NE(report.find("\"candidates\": [\"percentile: "), std::string::npos) << report;  // --calib-method auto
  const std::string out = " -o " + (dir / "out.onnx").string();
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits=8 --calib " + folder + " --preprocess size=32x32" + out)),
                       1, "--preprocess makes 32x32 images but input 'input' is [batch,1,28,28]");
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits=8 --calib " + folder + " --preprocess zoom=2" + out)),
                       1, "unknown key 'zoom'");
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits=8 --calib " + images() + " --preprocess size=28x28" + out)),
                       1, "--preprocess is for image folders");
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits=8 --calib " + images() + " --keep-float NoSuchNode" + out)),
                       1, "--keep-float NoSuchNode: no node or op type");
  fs::create_directories(dir / "empty");
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits=8 --calib " + (dir / "empty").string() + out)), 1,
                       "no images (.png, .jpg) and no test_data_set_*");
  EXPECT_FALSE(fs::exists(dir / "out.onnx"));
}

// Compresses mobilenet_v3_small with `flags` into dir / name (which must succeed) and returns
// the written file's path.
fs::path compress_mobilenet_v3(const fs::path& dir, const std::string& flags, const std::string& name) {
  const auto r = run_command(compress(model_path("mobilenet_v3_small") + " --budget bits=8 --calib " + images() + flags + " -o " +
                                      (dir / name).string()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir / name;
}

TEST(Cli, PerChannelActivationsSwitch) {
  // mobilenet_v3_small's depthwise outputs reach the projection only through hard-swish: with
  // per-channel activations (the default) they get per-channel tables, indexed with channel
  // offsets; switched off, none.
  test::TempDir dir;
  EXPECT_NE(test::read_file(compress_mobilenet_v3(dir.path(), "", "on.onnx")).find("_channel_offsets"), std::string::npos);
  EXPECT_EQ(test::read_file(compress_mobilenet_v3(dir.path(), " --per-channel-activations off", "off.onnx")).find("_channel_offsets"),
            std::string::npos);
  expect_clean_failure(run_command(compress(model_path("mobilenet_v3_small") + " --budget bits=8 --calib " + images() +
                                            " --per-channel-activations maybe -o " + (dir / "x.onnx").string())),
                       2, "per-channel-activations");
}

TEST(Cli, TableIndexBitsSwitch) {
  // By default the hard-swish tables are indexed by uint8 values; with --table-index-bits 12 by
  // DyadicRequantIndex outputs, and the per-channel tables hold 4096 entries per channel.
  test::TempDir dir;
  auto emit = [&](const std::string& flags, const std::string& name) { return load_onnx(compress_mobilenet_v3(dir.path(), flags, name)); };
  auto largest_table = [](const Model& m, int& index_calls) {
    index_calls = 0;
    for (const Node& n : m.graph.nodes) index_calls += n.op_type == "DyadicRequantIndex";
    int64_t largest = 0;
    for (const auto& [name, t] : m.graph.initializers)
      if (name.find("_table") != std::string::npos) largest = std::max(largest, t.numel());
    return largest;
  };
  int calls = 0;
  const int64_t narrow = largest_table(emit("", "8.onnx"), calls);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(narrow % 256, 0);
  const int64_t wide = largest_table(emit(" --table-index-bits 12", "12.onnx"), calls);
  EXPECT_GT(calls, 0);
  EXPECT_EQ(wide, narrow * 16);
  expect_clean_failure(run_command(compress(model_path("mobilenet_v3_small") + " --budget bits=8 --calib " + images() +
                                            " --table-index-bits 20 -o " + (dir / "x.onnx").string())),
                       2, "table-index-bits");
}

TEST(Cli, CrossLayerEqualizationSwitch) {
  // resnet_small has conv pairs joined by Relu: on applies the pass; auto tries it only where a
  // depthwise conv starts a pair (resnet_small has none); off does neither.
  test::TempDir dir;
  auto report = [&](const std::string& mode) {
    const fs::path json = dir / (mode + ".json");
    const auto r = run_command(compress(model_path("resnet_small") + " --budget bits=8 --calib " + images() +
                                        " --cross-layer-equalization " + mode + " -o " + (dir / (mode + ".onnx")).string() +
                                        " --report " + json.string()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return test::read_file(json);
  };
  EXPECT_NE(report("on").find("\"equalize_cross_layer\""), std::string::npos);
  EXPECT_EQ(report("auto").find("with cross-layer equalization"), std::string::npos);
  const std::string off = report("off");
  EXPECT_EQ(off.find("equalize_cross_layer"), std::string::npos);
  EXPECT_EQ(off.find("with cross-layer equalization"), std::string::npos);
}

TEST(Cli, UsageErrorsExitWithTwo) {
  expect_clean_failure(run_command(compress("run " + model_path("lenet") + " -o /tmp/x")), 2, "--input");
  expect_clean_failure(run_command(compress("inspect")), 2, "model");
  expect_clean_failure(run_command(compress("inspect " + model_path("lenet") + " --frobnicate")), 2, "frobnicate");
  expect_clean_failure(run_command(compress("")), 2, "subcommand");
  expect_clean_failure(run_command(compress(model_path("lenet") + " --budget bits=8 -o /tmp/x.onnx --format fp4")), 2, "format");
}

}  // namespace
}  // namespace dyad
