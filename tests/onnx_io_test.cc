// Loading and saving ONNX: round trips, determinism, external data and its path checks, and
// every malformed-input case of the foundation issue.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/onnx/atomic_file.h"
#include "formats/onnx/onnx_io.h"
#include "formats/tensor_io/npy.h"
#include "lib/exec/executor.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

namespace fs = std::filesystem;

fs::path resnet() { return test::testdata_dir() / "models" / "resnet_small.onnx"; }

std::vector<Tensor> run(const Model& m) {
  Executor exec(m, {.threads = 1});
  return exec.run({{"input", read_npy(test::testdata_dir() / "fmnist" / "test_64.npy")}});
}

void expect_error(const std::function<void()>& fn, const std::string& fragment) {
  try {
    fn();
    FAIL() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message must be one line: " << msg;
  }
}


TEST(OnnxIo, SaveLoadRoundTripKeepsOutputsAndIsDeterministic) {
  const Model m = load_onnx(resnet());
  test::TempDir dir;
  save_onnx(m, dir / "a.onnx");
  save_onnx(load_onnx(dir / "a.onnx"), dir / "b.onnx");
  EXPECT_EQ(test::read_file(dir / "a.onnx"), test::read_file(dir / "b.onnx"));
  const auto before = run(m), after = run(load_onnx(dir / "a.onnx"));
  EXPECT_EQ(test::max_abs_diff(before[0], after[0]), 0.0);
}

TEST(OnnxIo, ExternalDataRoundTrip) {
  const Model m = load_onnx(resnet());
  test::TempDir dir;
  SaveOptions external;
  external.force_external_data = true;
  save_onnx(m, dir / "ext.onnx", external);
  ASSERT_TRUE(fs::exists(dir / "ext.onnx.data"));
  // Most of the weights moved out of the .onnx file.
  EXPECT_GT(fs::file_size(dir / "ext.onnx.data"), 250000u);
  EXPECT_LT(fs::file_size(dir / "ext.onnx"), 50000u);
  const auto before = run(m), after = run(load_onnx(dir / "ext.onnx"));
  EXPECT_EQ(test::max_abs_diff(before[0], after[0]), 0.0);
}

TEST(OnnxIo, LargeModelsSwitchToExternalDataByThemselves) {
  // resnet_small holds ~306 KiB of weights: over a 200 KiB threshold it must go external, under
  // a 1 MiB one it must stay in one file.
  const Model m = load_onnx(resnet());
  test::TempDir dir;
  SaveOptions small;
  small.external_threshold_bytes = 200 << 10;
  save_onnx(m, dir / "big.onnx", small);
  EXPECT_TRUE(fs::exists(dir / "big.onnx.data"));
  SaveOptions large;
  large.external_threshold_bytes = 1 << 20;
  save_onnx(m, dir / "small.onnx", large);
  EXPECT_FALSE(fs::exists(dir / "small.onnx.data"));
  EXPECT_EQ(test::max_abs_diff(run(load_onnx(dir / "big.onnx"))[0], run(m)[0]), 0.0);
}

TEST(OnnxIo, ExternalDataMustStayInsideTheModelFolder) {
  test::TempDir dir;
  fs::create_directories(dir / "model");
  test::write_file(dir / "secret.bin", std::string(16, '\1'));
  test::write_file(dir / "model" / "weights.bin", std::string(16, '\0'));
  test::write_file(dir / "model" / "ok.onnx", test::external_data_model("weights.bin"));
  EXPECT_NO_THROW(load_onnx(dir / "model" / "ok.onnx"));

  test::write_file(dir / "model" / "up.onnx", test::external_data_model("../secret.bin"));
  expect_error([&] { load_onnx(dir / "model" / "up.onnx"); }, "leaves the model's folder");
  test::write_file(dir / "model" / "abs.onnx", test::external_data_model((dir / "secret.bin").string()));
  expect_error([&] { load_onnx(dir / "model" / "abs.onnx"); }, "is absolute");
  fs::create_symlink(dir / "secret.bin", dir / "model" / "link.bin");
  test::write_file(dir / "model" / "link.onnx", test::external_data_model("link.bin"));
  expect_error([&] { load_onnx(dir / "model" / "link.onnx"); }, "leaves the model's folder");
  test::write_file(dir / "model" / "missing.onnx", test::external_data_model("nothing.bin"));
  expect_error([&] { load_onnx(dir / "model" / "missing.onnx"); }, "does not exist");
}

TEST(OnnxIo, RejectsTruncatedAndNonOnnxFiles) {
  test::TempDir dir;
  const std::string bytes = test::read_file(resnet());
  test::write_file(dir / "half.onnx", bytes.substr(0, bytes.size() / 2));
  expect_error([&] { load_onnx(dir / "half.onnx"); }, "not an ONNX model");
  test::write_file(dir / "text.onnx", "hello, I am not a model\n");
  expect_error([&] { load_onnx(dir / "text.onnx"); }, "not an ONNX model");
  test::write_file(dir / "empty.onnx", "");
  expect_error([&] { load_onnx(dir / "empty.onnx"); }, "empty");
  expect_error([&] { load_onnx(dir / "absent.onnx"); }, "no such file");
}

TEST(OnnxIo, RejectsRawDataOfTheWrongSize) {
  test::TempDir dir;
  test::write_file(dir / "m.onnx", test::model_with_initializer([](onnx::TensorProto& w) { w.set_raw_data(std::string(12, '\0')); }));
  expect_error([&] { load_onnx(dir / "m.onnx"); }, "raw data is 12 bytes but shape [4] of type float needs 16");
}

TEST(OnnxIo, RejectsDimensionsWhoseProductOverflows) {
  test::TempDir dir;
  test::write_file(dir / "m.onnx", test::model_with_initializer([](onnx::TensorProto& w) {
          w.clear_dims();
          w.add_dims(int64_t{1} << 32);
          w.add_dims(int64_t{1} << 32);
        }));
  expect_error([&] { load_onnx(dir / "m.onnx", {.check = false}); }, "overflows");
}

TEST(OnnxIo, RefusesToOverwriteTheInputAndLeavesNoPartialFile) {
  test::TempDir dir;
  fs::copy_file(resnet(), dir / "m.onnx");
  const std::string original = test::read_file(dir / "m.onnx");
  const Model m = load_onnx(dir / "m.onnx");
  SaveOptions guarded;
  guarded.input_path = dir / "m.onnx";
  EXPECT_THROW(save_onnx(m, dir / "m.onnx", guarded), Error);
  // The same file reached through another spelling is still the input.
  EXPECT_THROW(save_onnx(m, dir / "." / "m.onnx", guarded), Error);
  EXPECT_EQ(test::read_file(dir / "m.onnx"), original);
  EXPECT_THROW(save_onnx(m, dir / "no" / "such" / "dir.onnx"), Error);
  {
    AtomicFile f(dir / "partial.bin");
    f.write("half written");
  }  // destroyed without commit: as if an error interrupted it
  EXPECT_FALSE(fs::exists(dir / "partial.bin"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);  // only m.onnx
}

}  // namespace
}  // namespace dyad
