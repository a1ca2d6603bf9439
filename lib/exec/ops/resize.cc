// Resize (nearest and linear, any rank) and the older Upsample.
#include <cmath>
#include <limits>

#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

// Input coordinate of output coordinate `o` along one axis, per coordinate_transformation_mode.
// `out_len` is in_len * scale, unrounded, as ONNX's reference uses it.
double source_coord(const std::string& mode, double o, double scale, int64_t in_len, double out_len, double roi_lo,
                    double roi_hi) {
  const double in = static_cast<double>(in_len);
  if (mode == "asymmetric") return o / scale;
  if (mode == "align_corners") return out_len == 1 ? 0.0 : o * (in - 1) / (out_len - 1);
  if (mode == "pytorch_half_pixel") return out_len > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  if (mode == "tf_half_pixel_for_nn") return (o + 0.5) / scale;
  if (mode == "tf_crop_and_resize")
    return out_len > 1 ? roi_lo * (in - 1) + o * (roi_hi - roi_lo) * (in - 1) / (out_len - 1)
                       : 0.5 * (roi_lo + roi_hi) * (in - 1);
  if (mode == "half_pixel_symmetric") {
    const double adj = out_len / (scale * in);
    const double offset = in / 2.0 * (1 - adj);
    return offset + (o + 0.5) / scale - 0.5;
  }
  return (o + 0.5) / scale - 0.5;  // half_pixel (default)
}

// Keys' cubic convolution kernel with parameter a.
double cubic_weight(double t, double a) {
  t = std::fabs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

int64_t nearest_index(const std::string& mode, double x) {
  if (mode == "floor") return static_cast<int64_t>(std::floor(x));
  if (mode == "ceil") return static_cast<int64_t>(std::ceil(x));
  const double f = std::floor(x);
  if (x - f == 0.5) return static_cast<int64_t>(mode == "round_prefer_ceil" ? f + 1 : f);
  return static_cast<int64_t>(std::round(x));  // round_prefer_floor (default) away from ties
}

// For each output coordinate along one axis: the input indices it reads and their weights
// (1 tap for nearest, 2 for linear, 4 for cubic).
struct AxisTaps {
  std::vector<std::vector<std::pair<int64_t, double>>> taps;
  std::vector<bool> outside;  // tf_crop_and_resize extrapolation
};

template <typename T>
void resize(KernelContext& c, const std::vector<double>& scales_in, const Shape& sizes_in) {
  const Tensor& x = c.in(0);
  const int rank = x.rank();
  const std::string mode = c.node.get_string("mode", "nearest");
  const std::string ctm = c.opset < 11 ? "asymmetric" : c.node.get_string("coordinate_transformation_mode", "half_pixel");
  // Before opset 11 (Upsample, Resize-10) nearest sampling floors the source coordinate.
  const std::string nearest_mode = c.node.get_string("nearest_mode", c.opset < 11 ? "floor" : "round_prefer_floor");
  const float extrapolation = c.node.get_float("extrapolation_value", 0.0f);
  std::vector<double> scales = scales_in;
  Shape out_shape(static_cast<size_t>(rank));
  std::vector<double> roi(static_cast<size_t>(2 * rank), 0.0);
  for (int d = 0; d < rank; ++d) roi[static_cast<size_t>(rank + d)] = 1.0;
  if (c.opset >= 11 && c.has(1) && c.in(1).numel() == 2 * rank)
    for (int i = 0; i < 2 * rank; ++i) roi[static_cast<size_t>(i)] = c.in(1).get_as_double(i);
  if (!sizes_in.empty()) {
    if (static_cast<int>(sizes_in.size()) != rank) c.fail("sizes has {} entries for rank {}", sizes_in.size(), rank);
    scales.resize(static_cast<size_t>(rank));
    for (int d = 0; d < rank; ++d) {
      out_shape[static_cast<size_t>(d)] = sizes_in[static_cast<size_t>(d)];
      scales[static_cast<size_t>(d)] = static_cast<double>(sizes_in[static_cast<size_t>(d)]) / static_cast<double>(x.dim(d));
    }
  } else {
    if (static_cast<int>(scales.size()) != rank) c.fail("scales has {} entries for rank {}", scales.size(), rank);
    for (int d = 0; d < rank; ++d)
      out_shape[static_cast<size_t>(d)] = static_cast<int64_t>(std::floor(static_cast<double>(x.dim(d)) * scales[static_cast<size_t>(d)]));
  }
  const double cubic_a = c.node.get_float("cubic_coeff_a", -0.75f);
  const bool exclude_outside = c.node.get_int("exclude_outside", 0) != 0;
  std::vector<AxisTaps> axes(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) {
    const int64_t in_len = x.dim(d), out_len = out_shape[static_cast<size_t>(d)];
    const double scale = scales[static_cast<size_t>(d)];
    AxisTaps& t = axes[static_cast<size_t>(d)];
    for (int64_t o = 0; o < out_len; ++o) {
      double s = source_coord(ctm, static_cast<double>(o), scale, in_len, scale * static_cast<double>(in_len),
                              roi[static_cast<size_t>(d)], roi[static_cast<size_t>(rank + d)]);
      t.outside.push_back(ctm == "tf_crop_and_resize" && (s < 0 || s > static_cast<double>(in_len - 1)));
      std::vector<std::pair<int64_t, double>> taps;
      if (mode == "nearest") {
        taps.push_back({std::clamp<int64_t>(nearest_index(nearest_mode, s), 0, in_len - 1), 1.0});
      } else if (mode == "linear") {
        s = std::clamp(s, 0.0, static_cast<double>(in_len - 1));
        const int64_t lo = static_cast<int64_t>(std::floor(s)), hi = std::min(lo + 1, in_len - 1);
        const double w = s - static_cast<double>(lo);
        taps.push_back({lo, 1 - w});
        if (hi != lo) taps.push_back({hi, w});
      } else {  // cubic
        const int64_t base = static_cast<int64_t>(std::floor(s));
        double total = 0;
        for (int64_t k = base - 1; k <= base + 2; ++k) {
          double w = cubic_weight(s - static_cast<double>(k), cubic_a);
          if (exclude_outside && (k < 0 || k >= in_len)) w = 0;
          taps.push_back({std::clamp<int64_t>(k, 0, in_len - 1), w});
          total += w;
        }
        if (exclude_outside && total != 0)
          for (auto& tap : taps) tap.second /= total;
      }
      t.taps.push_back(std::move(taps));
    }
  }
  Tensor y(x.dtype(), out_shape);
  const T* src = x.data<T>();
  T* dst = y.data<T>();
  std::vector<int64_t> in_strides(static_cast<size_t>(rank));
  int64_t st = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_strides[static_cast<size_t>(d)] = st;
    st *= x.dim(d);
  }
  // Each output sums over the product of its axes' taps (an odometer over tap choices).
  std::vector<int64_t> pos(static_cast<size_t>(rank), 0);
  std::vector<size_t> choice(static_cast<size_t>(rank));
  for (int64_t i = 0; i < y.numel(); ++i) {
    bool outside = false;
    for (int d = 0; d < rank; ++d) outside = outside || axes[static_cast<size_t>(d)].outside[static_cast<size_t>(pos[static_cast<size_t>(d)])];
    double v = 0;
    if (outside) {
      v = extrapolation;
    } else {
      std::fill(choice.begin(), choice.end(), 0);
      while (true) {
        double w = 1;
        int64_t off = 0;
        for (int d = 0; d < rank; ++d) {
          const auto& tap = axes[static_cast<size_t>(d)].taps[static_cast<size_t>(pos[static_cast<size_t>(d)])][choice[static_cast<size_t>(d)]];
          w *= tap.second;
          off += tap.first * in_strides[static_cast<size_t>(d)];
        }
        v += w * static_cast<double>(src[off]);
        int d = rank - 1;
        for (; d >= 0; --d) {
          const size_t n_taps = axes[static_cast<size_t>(d)].taps[static_cast<size_t>(pos[static_cast<size_t>(d)])].size();
          if (++choice[static_cast<size_t>(d)] < n_taps) break;
          choice[static_cast<size_t>(d)] = 0;
        }
        if (d < 0) break;
      }
    }
    if constexpr (std::is_integral_v<T>)
      dst[i] = static_cast<T>(std::clamp(std::nearbyint(v), static_cast<double>(std::numeric_limits<T>::lowest()),
                                         static_cast<double>(std::numeric_limits<T>::max())));
    else
      dst[i] = static_cast<T>(v);
    for (int d = rank - 1; d >= 0; --d) {
      if (++pos[static_cast<size_t>(d)] < out_shape[static_cast<size_t>(d)]) break;
      pos[static_cast<size_t>(d)] = 0;
    }
  }
  c.outputs[0] = std::move(y);
}

void run_resize(KernelContext& c, const std::vector<double>& scales, const Shape& sizes) {
  const DType t = c.in(0).dtype();
  if (t == DType::Int8) return resize<int8_t>(c, scales, sizes);
  if (t == DType::UInt8) return resize<uint8_t>(c, scales, sizes);
  dispatch_float(c, t, [&](auto tag) { resize<decltype(tag)>(c, scales, sizes); });
}

void op_resize(KernelContext& c) {
  std::vector<double> scales;
  Shape sizes;
  if (c.opset < 11) {
    const Tensor& s = c.in(1);
    for (int64_t i = 0; i < s.numel(); ++i) scales.push_back(s.get_as_double(i));
  } else {
    if (c.has(2))
      for (int64_t i = 0; i < c.in(2).numel(); ++i) scales.push_back(c.in(2).get_as_double(i));
    if (c.has(3)) sizes = c.in(3).to_int64_vector();
    if (!sizes.empty()) scales.clear();
  }
  if (c.node.has("axes")) c.fail("the axes attribute is not supported");
  run_resize(c, scales, sizes);
}

void op_upsample(KernelContext& c) {
  std::vector<double> scales;
  if (c.has(1)) {
    for (int64_t i = 0; i < c.in(1).numel(); ++i) scales.push_back(c.in(1).get_as_double(i));
  } else {
    for (float f : c.node.get_floats("scales")) scales.push_back(f);
  }
  run_resize(c, scales, {});
}

}  // namespace

void register_resize_ops(Registry& r) {
  r["Resize"] = op_resize;
  r["Upsample"] = op_upsample;
}

}  // namespace dyad::ops
