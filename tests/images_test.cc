// Image decoding (libpng, libjpeg) against pixels written by testdata/make_images.py, and
// --preprocess geometry and normalisation against values derived by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "formats/calib_data.h"
#include "formats/images/image_folder.h"
#include "tests/test_util.h"

namespace dyad {
namespace {

namespace fs = std::filesystem;
const fs::path kImages = test::testdata_dir() / "images";

ValueInfo image_input(std::vector<int64_t> dims) {
  ValueInfo vi;
  vi.name = "x";
  vi.dtype = DType::Float32;
  vi.has_shape = true;
  for (int64_t d : dims) vi.dims.push_back(d >= 0 ? Dim{d, ""} : Dim{-1, "n"});
  return vi;
}

TEST(ImageDecode, PngColourTypesGiveTheWrittenPixels) {
  for (const char* file : {"rgb_4x3.png", "rgba_4x3.png", "palette_4x3.png"}) {
    const Image img = read_image(kImages / file);
    ASSERT_EQ(img.height, 3) << file;
    ASSERT_EQ(img.width, 4) << file;
    ASSERT_EQ(img.channels, 3) << file;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) {
        EXPECT_EQ(img.at(y, x, 0), 10 * y + x) << file;
        EXPECT_EQ(img.at(y, x, 1), 100 + y) << file;
        EXPECT_EQ(img.at(y, x, 2), 200 - x) << file;
      }
  }
  const Image gray = read_image(kImages / "gray_4x3.png");
  ASSERT_EQ(gray.channels, 1);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_EQ(gray.at(y, x, 0), 20 * y + x);
}

TEST(ImageDecode, JpegSolidColoursWithinCompressionError) {
  const Image rgb = read_image(kImages / "solid_8x8.jpg"), gray = read_image(kImages / "gray_8x8.jpg");
  ASSERT_EQ(rgb.channels, 3);
  ASSERT_EQ(gray.channels, 1);
  for (int64_t i = 0; i < 64; ++i) {
    EXPECT_NEAR(rgb.pixels[static_cast<size_t>(i * 3)], 50, 3);
    EXPECT_NEAR(rgb.pixels[static_cast<size_t>(i * 3 + 1)], 120, 3);
    EXPECT_NEAR(rgb.pixels[static_cast<size_t>(i * 3 + 2)], 200, 3);
    EXPECT_NEAR(gray.pixels[static_cast<size_t>(i)], 77, 2);
  }
}

TEST(ImageDecode, TruncatedOrForeignFilesAreNamedErrors) {
  test::TempDir dir;
  for (const char* file : {"rgb_4x3.png", "solid_8x8.jpg"}) {
    std::ifstream in(kImages / file, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const fs::path cut = dir / (std::string("cut_") + file);
    test::write_file(cut, bytes.substr(0, bytes.size() / 2));
    try {
      read_image(cut);
      ADD_FAILURE() << "truncated " << file << " decoded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(cut.string()), std::string::npos) << e.what();
    }
  }
  test::write_file(dir / "text.png", "not an image at all");
  EXPECT_THROW(read_image(dir / "text.png"), Error);
}

TEST(Preprocess, StretchAtTheSameSizeIsJustNormalisation) {
  const Preprocess p = parse_preprocess("mean=0.5:0.4:0.3,std=0.5:0.25:0.2", image_input({-1, 3, 3, 4}));
  const Tensor t = preprocess_image(read_image(kImages / "rgb_4x3.png"), p);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 3, 4}));
  const float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.5f, 0.25f, 0.2f};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) {
        const int pixel = c == 0 ? 10 * y + x : (c == 1 ? 100 + y : 200 - x);
        EXPECT_NEAR(t.data<float>()[(c * 3 + y) * 4 + x], (pixel / 255.0f - mean[c]) / std[c], 1e-5f);
      }
}

TEST(Preprocess, LayoutChannelOrderAndGrayExpansion) {
  // NHWC with BGR order: element (y, x, 0) is the blue channel.
  const Preprocess bgr = parse_preprocess("layout=nhwc,order=bgr", image_input({-1, 3, 4, 3}));
  const Tensor t = preprocess_image(read_image(kImages / "rgb_4x3.png"), bgr);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 4, 3}));
  EXPECT_NEAR(t.data<float>()[(1 * 4 + 2) * 3 + 0], (200 - 2) / 255.0f, 1e-6f);
  EXPECT_NEAR(t.data<float>()[(1 * 4 + 2) * 3 + 2], (10 + 2) / 255.0f, 1e-6f);
  // A gray image for a 3-channel model: the same value in every channel.
  const Preprocess rgb = parse_preprocess("", image_input({-1, 3, 3, 4}));
  const Tensor g = preprocess_image(read_image(kImages / "gray_4x3.png"), rgb);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(g.data<float>()[(c * 3 + 2) * 4 + 1], 41 / 255.0f, 1e-6f);
  // A colour image for a 1-channel model: luminance.
  const Preprocess mono = parse_preprocess("", image_input({-1, 1, 3, 4}));
  const Tensor m = preprocess_image(read_image(kImages / "rgb_4x3.png"), mono);
  EXPECT_NEAR(m.data<float>()[0], std::round(0.299f * 0 + 0.587f * 100 + 0.114f * 200) / 255.0f, 1e-6f);
}

TEST(Preprocess, FitKeepsAspectAndPadsTheRight) {
  // 4x3 to height 6: width 8 (aspect kept) inside 10, two columns of padding.
  const Preprocess p = parse_preprocess("fit=6x10,pad=-7", image_input({-1, 1, 6, -1}));
  const Tensor t = preprocess_image(read_image(kImages / "gray_4x3.png"), p);
  ASSERT_EQ(t.shape(), (Shape{1, 1, 6, 10}));
  for (int y = 0; y < 6; ++y) {
    for (int x = 8; x < 10; ++x) EXPECT_EQ(t.data<float>()[y * 10 + x], -7.0f);
    for (int x = 0; x < 8; ++x) {
      const float v = t.data<float>()[y * 10 + x] * 255.0f;
      EXPECT_GE(v, -0.01f);
      EXPECT_LE(v, 43.01f);  // bilinear stays inside the source range
    }
  }
  // Upscaling by 2 with half-pixel centres: the top-left output sits a quarter pixel from the
  // source corner, clamped to it.
  EXPECT_NEAR(t.data<float>()[0] * 255.0f, 0.0f, 1e-3f);
}

TEST(Preprocess, ShorterSideResizeThenCentreCrop) {
  // A 3-high, 4-wide image resized to shorter side 3 keeps its size; a 3x2 centre crop then
  // starts at column (4 - 2) / 2 = 1.
  const Preprocess p = parse_preprocess("resize=3,crop=3x2", image_input({-1, 1, 3, 2}));
  const Tensor t = preprocess_image(read_image(kImages / "gray_4x3.png"), p);
  ASSERT_EQ(t.shape(), (Shape{1, 1, 3, 2}));
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 2; ++x) EXPECT_NEAR(t.data<float>()[y * 2 + x] * 255.0f, 20 * y + x + 1, 1e-3f);
}

TEST(Preprocess, BadSpecificationsAreNamedErrors) {
  const ValueInfo fixed = image_input({-1, 3, 3, 4}), dynamic = image_input({-1, 3, -1, -1});
  auto message = [](const std::string& spec, const ValueInfo& input) {
    try {
      parse_preprocess(spec, input);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("zoom=2", fixed).find("unknown key 'zoom'"), std::string::npos);
  EXPECT_NE(message("size=8x8", fixed).find("input 'x'"), std::string::npos);  // model is 3x4
  EXPECT_NE(message("", dynamic).find("size=HxW"), std::string::npos);
  EXPECT_NE(message("size=4x4,fit=4x4", dynamic).find("exclude"), std::string::npos);
  EXPECT_NE(message("mean=0.1:0.2", fixed).find("1 or 3 values"), std::string::npos);
  EXPECT_NE(message("std=0", fixed).find("std must not be 0"), std::string::npos);
  EXPECT_NE(message("layout=chw", fixed).find("nchw or nhwc"), std::string::npos);
}

TEST(ImageFolder, CalibrationBatchesFromAFolderOfImages) {
  Graph g;
  g.inputs.push_back(image_input({-1, 3, 3, 4}));
  const auto batches = load_calibration_batches(kImages, g, {.batch_size = 2, .max_samples = 0, .preprocess = "size=3x4"});
  // Six images (4x3 and 8x8 ones, all resized to 3x4), in batches of two, sorted by name.
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].at("x").shape(), (Shape{2, 3, 3, 4}));
  EXPECT_NEAR(batches[0].at("x").data<float>()[5] * 255.0f, 21.0f, 1e-3f);  // gray_4x3.png first: (1,1) = 21
  EXPECT_THROW(load_calibration_batches(kImages / "rgb_4x3.png", g, {.batch_size = 2, .max_samples = 0, .preprocess = "size=3x4"}),
               Error);  // --preprocess with a single file
}

}  // namespace
}  // namespace dyad
