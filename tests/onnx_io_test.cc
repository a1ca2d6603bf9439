// Loading and saving ONNX: round trips, determinism, external data and its path checks, and
// every malformed-input case of the foundation issue.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

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

// A one-initializer model "y = x + w" with w's TensorProto edited by `edit`.
std::string model_with_initializer(const std::function<void(onnx::TensorProto&)>& edit) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->add_input("x");
  n->add_input("w");
  n->add_output("y");
  for (auto* vi : {g->add_input(), g->add_output()}) {
    vi->set_name(vi == &g->input(0) ? "x" : "y");
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(1);
    tt->mutable_shape()->add_dim()->set_dim_value(4);
  }
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(1);
  w->add_dims(4);
  w->set_raw_data(std::string(16, '\0'));
  edit(*w);
  return m.SerializeAsString();
}

void write(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

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

std::string external_model(const std::string& location) {
  return model_with_initializer([&](onnx::TensorProto& w) {
    w.clear_raw_data();
    w.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = w.add_external_data();
    kv->set_key("location");
    kv->set_value(location);
  });
}

TEST(OnnxIo, ExternalDataMustStayInsideTheModelFolder) {
  test::TempDir dir;
  fs::create_directories(dir / "model");
  write(dir / "secret.bin", std::string(16, '\1'));
  write(dir / "model" / "weights.bin", std::string(16, '\0'));
  write(dir / "model" / "ok.onnx", external_model("weights.bin"));
  EXPECT_NO_THROW(load_onnx(dir / "model" / "ok.onnx"));

  write(dir / "model" / "up.onnx", external_model("../secret.bin"));
  expect_error([&] { load_onnx(dir / "model" / "up.onnx"); }, "leaves the model's folder");
  write(dir / "model" / "abs.onnx", external_model((dir / "secret.bin").string()));
  expect_error([&] { load_onnx(dir / "model" / "abs.onnx"); }, "is absolute");
  fs::create_symlink(dir / "secret.bin", dir / "model" / "link.bin");
  write(dir / "model" / "link.onnx", external_model("link.bin"));
  expect_error([&] { load_onnx(dir / "model" / "link.onnx"); }, "leaves the model's folder");
  write(dir / "model" / "missing.onnx", external_model("nothing.bin"));
  expect_error([&] { load_onnx(dir / "model" / "missing.onnx"); }, "does not exist");
}

TEST(OnnxIo, RejectsTruncatedAndNonOnnxFiles) {
  test::TempDir dir;
  const std::string bytes = test::read_file(resnet());
  write(dir / "half.onnx", bytes.substr(0, bytes.size() / 2));
  expect_error([&] { load_onnx(dir / "half.onnx"); }, "not an ONNX model");
  write(dir / "text.onnx", "hello, I am not a model\n");
  expect_error([&] { load_onnx(dir / "text.onnx"); }, "not an ONNX model");
  write(dir / "empty.onnx", "");
  expect_error([&] { load_onnx(dir / "empty.onnx"); }, "empty");
  expect_error([&] { load_onnx(dir / "absent.onnx"); }, "no such file");
}

TEST(OnnxIo, RejectsRawDataOfTheWrongSize) {
  test::TempDir dir;
  write(dir / "m.onnx", model_with_initializer([](onnx::TensorProto& w) { w.set_raw_data(std::string(12, '\0')); }));
  expect_error([&] { load_onnx(dir / "m.onnx"); }, "raw data is 12 bytes but shape [4] of type float needs 16");
}

TEST(OnnxIo, RejectsDimensionsWhoseProductOverflows) {
  test::TempDir dir;
  write(dir / "m.onnx", model_with_initializer([](onnx::TensorProto& w) {
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
