#include "formats/images/preprocess.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lib/ir/error.h"

namespace dyad {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

int64_t parse_positive(const std::string& key, const std::string& v) {
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n <= 0) fail("--preprocess {}={}: expected a positive whole number", key, v);
  return n;
}

// "HxW" or "N" (square).
std::pair<int64_t, int64_t> parse_size(const std::string& key, const std::string& v) {
  const size_t x = v.find('x');
  if (x == std::string::npos) {
    const int64_t n = parse_positive(key, v);
    return {n, n};
  }
  return {parse_positive(key, v.substr(0, x)), parse_positive(key, v.substr(x + 1))};
}

std::vector<float> parse_floats(const std::string& key, const std::string& v) {
  std::vector<float> out;
  for (const auto& part : split(v, ':')) {
    size_t used = 0;
    float f = 0;
    try {
      f = std::stof(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size()) fail("--preprocess {}={}: '{}' is not a number", key, v, part);
    out.push_back(f);
  }
  if (out.empty()) fail("--preprocess {}=: needs a value", key);
  return out;
}

// Bilinear sampling of one output axis: for output index i, the source taps and weights.
// When shrinking, the filter widens to the scale (a triangle over the source footprint), which
// is what Pillow's BILINEAR does and keeps thin strokes from disappearing.
struct Taps {
  std::vector<int64_t> first;
  std::vector<std::vector<float>> weights;
};

Taps make_taps(int64_t in, int64_t out) {
  Taps t;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double support = std::max(1.0, scale);
  for (int64_t i = 0; i < out; ++i) {
    const double center = (static_cast<double>(i) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(center - support)));
    const int64_t hi = std::min<int64_t>(in, static_cast<int64_t>(std::ceil(center + support)));
    std::vector<float> w;
    double total = 0;
    for (int64_t j = lo; j < hi; ++j) {
      const double d = std::abs((static_cast<double>(j) + 0.5 - center) / support);
      const double v = std::max(0.0, 1.0 - d);
      w.push_back(static_cast<float>(v));
      total += v;
    }
    for (auto& v : w) v = static_cast<float>(v / total);
    t.first.push_back(lo);
    t.weights.push_back(std::move(w));
  }
  return t;
}

// Resized image as floats in [0, 255], channels kept.
std::vector<float> resize(const Image& img, int64_t out_h, int64_t out_w) {
  const Taps ty = make_taps(img.height, out_h), tx = make_taps(img.width, out_w);
  const int64_t c = img.channels;
  std::vector<float> rows(static_cast<size_t>(img.height * out_w * c));  // horizontal pass
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < out_w; ++x)
      for (int64_t k = 0; k < c; ++k) {
        float acc = 0;
        const auto& w = tx.weights[static_cast<size_t>(x)];
        for (size_t j = 0; j < w.size(); ++j) acc += w[j] * img.at(y, tx.first[static_cast<size_t>(x)] + static_cast<int64_t>(j), k);
        rows[static_cast<size_t>((y * out_w + x) * c + k)] = acc;
      }
  std::vector<float> out(static_cast<size_t>(out_h * out_w * c));
  for (int64_t y = 0; y < out_h; ++y) {
    const auto& w = ty.weights[static_cast<size_t>(y)];
    for (int64_t x = 0; x < out_w; ++x)
      for (int64_t k = 0; k < c; ++k) {
        float acc = 0;
        for (size_t j = 0; j < w.size(); ++j)
          acc += w[j] * rows[static_cast<size_t>(((ty.first[static_cast<size_t>(y)] + static_cast<int64_t>(j)) * out_w + x) * c + k)];
        out[static_cast<size_t>((y * out_w + x) * c + k)] = acc;
      }
  }
  return out;
}

}  // namespace

Preprocess parse_preprocess(const std::string& text, const ValueInfo& input) {
  Preprocess p;
  bool have_size = false, have_fit = false, have_crop = false;
  std::string layout = "nchw";
  for (const auto& item : split(text, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) fail("--preprocess: '{}' is not key=value", item);
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "size") {
      std::tie(p.height, p.width) = parse_size(key, value);
      have_size = true;
    } else if (key == "fit") {
      std::tie(p.height, p.width) = parse_size(key, value);
      have_fit = true;
    } else if (key == "resize") {
      p.shorter_side = parse_positive(key, value);
    } else if (key == "crop") {
      std::tie(p.height, p.width) = parse_size(key, value);
      have_crop = true;
    } else if (key == "mean") {
      p.mean = parse_floats(key, value);
    } else if (key == "std") {
      p.std = parse_floats(key, value);
    } else if (key == "pad") {
      p.pad = parse_floats(key, value)[0];
    } else if (key == "layout") {
      if (value != "nchw" && value != "nhwc") fail("--preprocess layout={}: expected nchw or nhwc", value);
      layout = value;
    } else if (key == "order") {
      if (value != "rgb" && value != "bgr") fail("--preprocess order={}: expected rgb or bgr", value);
      p.bgr = value == "bgr";
    } else {
      fail("--preprocess: unknown key '{}' (size, resize, crop, fit, mean, std, pad, layout, order)", key);
    }
  }
  if (have_size + have_fit + have_crop > 1) fail("--preprocess: size, fit and crop exclude each other; give one");
  if (p.shorter_side && !have_crop) fail("--preprocess resize={} needs crop= (the centre crop after resizing)", p.shorter_side);
  p.nhwc = layout == "nhwc";
  if (!input.has_shape || input.dims.size() != 4)
    fail("input '{}' is {}: image folders feed 4-D image inputs only", input.name, input.shape_string());
  const Dim& cdim = input.dims[p.nhwc ? 3 : 1];
  const Dim& hdim = input.dims[p.nhwc ? 1 : 2];
  const Dim& wdim = input.dims[p.nhwc ? 2 : 3];
  if (!cdim.known() || (cdim.value != 1 && cdim.value != 3))
    fail("input '{}' is {}: expected 1 or 3 channels in layout {}", input.name, input.shape_string(), layout);
  p.channels = cdim.value;
  if (!have_size && !have_fit && !have_crop) {
    if (!hdim.known() || !wdim.known())
      fail("input '{}' is {}: its height and width are not fixed; give --preprocess size=HxW (or fit=, crop=)", input.name,
           input.shape_string());
    p.height = hdim.value;
    p.width = wdim.value;
  }
  if ((hdim.known() && hdim.value != p.height) || (wdim.known() && wdim.value != p.width))
    fail("--preprocess makes {}x{} images but input '{}' is {}", p.height, p.width, input.name, input.shape_string());
  p.resize = have_fit ? Preprocess::Resize::FitAndPad : (have_crop ? Preprocess::Resize::ShorterSideThenCrop : Preprocess::Resize::Stretch);
  if (have_crop && !p.shorter_side) p.shorter_side = std::min(p.height, p.width);
  for (const auto* v : {&p.mean, &p.std})
    if (v->size() != 1 && static_cast<int64_t>(v->size()) != p.channels)
      fail("--preprocess: mean and std take 1 or {} values (one per channel)", p.channels);
  for (float s : p.std)
    if (s == 0.0f) fail("--preprocess: std must not be 0");
  return p;
}

Tensor preprocess_image(const Image& image, const Preprocess& p) {
  // Channels first: to the model's channel count.
  Image img = image;
  if (img.channels != p.channels) {
    Image conv;
    conv.height = img.height;
    conv.width = img.width;
    conv.channels = p.channels;
    conv.pixels.resize(static_cast<size_t>(img.height * img.width * p.channels));
    for (int64_t i = 0; i < img.height * img.width; ++i) {
      if (p.channels == 3) {
        for (int k = 0; k < 3; ++k) conv.pixels[static_cast<size_t>(i * 3 + k)] = img.pixels[static_cast<size_t>(i)];
      } else {
        const float lum = 0.299f * img.pixels[static_cast<size_t>(i * 3)] + 0.587f * img.pixels[static_cast<size_t>(i * 3 + 1)] +
                          0.114f * img.pixels[static_cast<size_t>(i * 3 + 2)];
        conv.pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(std::lround(lum));
      }
    }
    img = std::move(conv);
  }
  // Geometry: the resized region and where it sits in the output.
  int64_t rh = p.height, rw = p.width, crop_y = 0, crop_x = 0;
  if (p.resize == Preprocess::Resize::ShorterSideThenCrop) {
    const double s = static_cast<double>(p.shorter_side) / static_cast<double>(std::min(img.height, img.width));
    rh = std::max<int64_t>(p.height, std::lround(static_cast<double>(img.height) * s));
    rw = std::max<int64_t>(p.width, std::lround(static_cast<double>(img.width) * s));
    crop_y = (rh - p.height) / 2;
    crop_x = (rw - p.width) / 2;
  } else if (p.resize == Preprocess::Resize::FitAndPad) {
    rw = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(static_cast<double>(img.width) * static_cast<double>(p.height) /
                                                            static_cast<double>(img.height))),
                             1, p.width);
  }
  const std::vector<float> pixels = resize(img, rh, rw);
  const int64_t c = p.channels;
  Tensor t(DType::Float32, p.nhwc ? Shape{1, p.height, p.width, c} : Shape{1, c, p.height, p.width});
  float* out = t.data<float>();
  for (int64_t y = 0; y < p.height; ++y)
    for (int64_t x = 0; x < p.width; ++x)
      for (int64_t k = 0; k < c; ++k) {
        const int64_t src_k = p.bgr && c == 3 ? 2 - k : k;
        const float mean = p.mean[p.mean.size() == 1 ? 0 : static_cast<size_t>(k)];
        const float std = p.std[p.std.size() == 1 ? 0 : static_cast<size_t>(k)];
        const int64_t sy = y + crop_y, sx = x + crop_x;
        const float v = sx < rw ? (pixels[static_cast<size_t>((sy * rw + sx) * c + src_k)] / 255.0f - mean) / std : p.pad;
        out[p.nhwc ? (y * p.width + x) * c + k : (k * p.height + y) * p.width + x] = v;
      }
  return t;
}

}  // namespace dyad
