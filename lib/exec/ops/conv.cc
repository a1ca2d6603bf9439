// Convolutions: Conv and ConvTranspose in float (im2col + GEMM, a direct depthwise path), and
// ConvInteger / QLinearConv as exact integer references.
#include <cmath>
#include <limits>
#include <memory>

#include "lib/exec/depthwise.h"
#include "lib/exec/gemm.h"
#include "lib/exec/sgemm_tile.h"
#include "lib/exec/ops/conv_geometry.h"
#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/quant_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

std::vector<int64_t> spatial(const Shape& s) { return {s.begin() + 2, s.end()}; }

// Depthwise 2-D convolution with a direct loop: several times faster than im2col + a 1-row
// GEMM per channel. Float has a reference and an AVX-512 kernel (lib/exec/depthwise.h).
template <typename T>
void depthwise2d(const WindowGeometry& g, const T* x, const T* w, T bias, T* y) {
  const DepthwiseShape s{g.in[0], g.in[1], g.out[0], g.out[1], g.kernel[0], g.kernel[1], g.stride[0], g.stride[1],
                         g.pad_begin[0], g.pad_begin[1], g.dilation[0], g.dilation[1]};
  if constexpr (std::is_same_v<T, float>) {
    static const bool avx512 = sgemm_tile_avx512_available();
    if (avx512 && s.stride_w == 1) return depthwise2d_avx512(s, x, w, bias, y);
    return depthwise2d_ref(s, x, w, bias, y);
  } else {  // double: the same loops in double
    for (int64_t oh = 0; oh < s.out_height; ++oh)
      for (int64_t ow = 0; ow < s.out_width; ++ow) {
        T acc = bias;
        for (int64_t kh = 0; kh < s.kernel_h; ++kh)
          for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
            const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h, iw = ow * s.stride_w - s.pad_w + kw * s.dilation_w;
            if (ih >= 0 && ih < s.height && iw >= 0 && iw < s.width) acc += w[kh * s.kernel_w + kw] * x[ih * s.width + iw];
          }
        y[oh * s.out_width + ow] = acc;
      }
  }
}

// Weights packed into the tile kernel's panel layout, one set per group. Constant weights are
// packed once per executor (kept in the node's cache); others on every call.
struct PackedWeights {
  const void* source = nullptr;
  std::vector<std::vector<float>> groups;
};

const std::vector<std::vector<float>>& packed_weights(KernelContext& c, const Tensor& w, int64_t group, int64_t mg,
                                                      int64_t k) {
  const bool cacheable = c.node_cache && c.input_is_constant(1);
  if (cacheable && *c.node_cache) {
    const auto* cached = static_cast<const PackedWeights*>(c.node_cache->get());
    if (cached->source == w.raw()) return cached->groups;
  }
  auto packed = std::make_shared<PackedWeights>();
  packed->source = w.raw();
  for (int64_t gi = 0; gi < group; ++gi) packed->groups.push_back(sgemm_pack_a(w.data<float>() + gi * mg * k, mg, k, k));
  thread_local std::shared_ptr<PackedWeights> scratch;  // keeps uncached packings alive for the call
  if (cacheable) *c.node_cache = packed;
  else scratch = packed;
  return packed->groups;
}

template <typename T>
void conv_float(KernelContext& c) {
  const Tensor &x = c.in(0), &w = c.in(1);
  if (x.rank() < 3) c.fail("input must be at least 3-D (N, C, spatial...), got {}", shape_to_string(x.shape()));
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), group = c.node.get_int("group", 1);
  if (group <= 0 || C % group != 0 || M % group != 0 || w.dim(1) * group != C)
    c.fail("channels {} / group {} do not match weight shape {}", C, group, shape_to_string(w.shape()));
  WindowGeometry g = window_geometry(c, spatial(x.shape()), spatial(w.shape()));
  Shape out_shape{N, M};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  Tensor y = Tensor::uninitialized(x.dtype(), out_shape);  // every element is written by the GEMM or depthwise loop
  const int64_t Cg = C / group, Mg = M / group, K = Cg * g.kernel_size(), in_size = g.in_size(), out_size = g.out_size();
  const T* xp = x.data<T>();
  const T* wp = w.data<T>();
  T* yp = y.data<T>();
  const bool depthwise = Cg == 1 && Mg == 1 && g.in.size() == 2;
  bool pointwise = g.kernel_size() == 1;
  for (size_t d = 0; d < g.in.size(); ++d)
    pointwise = pointwise && g.stride[d] == 1 && g.pad_begin[d] == 0 && g.pad_end[d] == 0;

  bool bias_done = false, clamp_done = false;
  const bool fused = c.clamp_lo > -std::numeric_limits<float>::infinity() || c.clamp_hi < std::numeric_limits<float>::infinity();
  if constexpr (std::is_same_v<T, float>) {
    const SgemmTileFn tile = depthwise ? nullptr : sgemm_tile_best();
    if (tile) {
    // Register-tiled kernel reading the im2col matrix in place, bias fused into the tiles.
    const T* bias = c.has(2) ? c.in(2).template data<T>() : nullptr;
    const std::vector<std::vector<float>>& packed = packed_weights(c, w, group, Mg, K);
    // Applies a fused Relu/Clip to rows [row0, row0 + rows) x columns [c0, c1) just written.
    auto clamp = [&](float* base, int64_t rows, int64_t c0, int64_t c1) {
      if (!fused) return;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = c0; j < c1; ++j) base[r * out_size + j] = std::min(std::max(base[r * out_size + j], c.clamp_lo), c.clamp_hi);
    };
    auto run_group = [&](int64_t n, int64_t gi, const T* col, int64_t n_begin, int64_t n_end) {
      float* out = yp + (n * M + gi * Mg) * out_size;
      tile(packed[static_cast<size_t>(gi)].data(), Mg, K, col, out_size, n_begin, n_end, out, out_size,
           bias ? bias + gi * Mg : nullptr);
      clamp(out, Mg, n_begin, n_end);
    };
    const int threads = omp_get_max_threads();
    // Stride-1 convs whose output is as large as the input read the input in place.
    const bool same = g.in.size() == 2 && g.stride[0] == 1 && g.stride[1] == 1 && g.out == g.in;
    if (same) {
      const SameConvShape shape{Cg, g.in[0], g.in[1], g.kernel[0], g.kernel[1], g.pad_begin[0], g.pad_begin[1],
                                g.dilation[0], g.dilation[1]};
      const int64_t panels = (out_size + kSgemmCols - 1) / kSgemmCols;
      parallel_for(N * group * panels, Mg * K * kSgemmCols, [&](int64_t b, int64_t e) {
        for (int64_t item = b; item < e; ++item) {
          const int64_t n = item / (group * panels), gi = (item / panels) % group, panel = item % panels;
          const int64_t p0 = panel * kSgemmCols, p1 = std::min((panel + 1) * kSgemmCols, out_size);
          float* out = yp + (n * M + gi * Mg) * out_size;
          same_conv_avx512(packed[static_cast<size_t>(gi)].data(), Mg, shape, xp + (n * C + gi * Cg) * in_size, p0, p1,
                           out, bias ? bias + gi * Mg : nullptr);
          clamp(out, Mg, p0, p1);
        }
      });
    } else if (N >= threads) {  // one image per thread
      parallel_for(N, M * K * out_size, [&](int64_t b, int64_t e) {
        std::vector<T> col(pointwise ? 0 : static_cast<size_t>(K * out_size));
        for (int64_t n = b; n < e; ++n)
          for (int64_t gi = 0; gi < group; ++gi) {
            const T* xg = xp + (n * C + gi * Cg) * in_size;
            if (!pointwise) im2col(g, Cg, xg, T(0), col.data());
            run_group(n, gi, pointwise ? xg : col.data(), 0, out_size);
          }
      });
    } else {  // few images: split each image's columns across threads
      std::vector<T> col(pointwise ? 0 : static_cast<size_t>(K * out_size));
      const int64_t panels = (out_size + kSgemmCols - 1) / kSgemmCols;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t gi = 0; gi < group; ++gi) {
          const T* xg = xp + (n * C + gi * Cg) * in_size;
          if (!pointwise) im2col(g, Cg, xg, T(0), col.data());
          const T* bmat = pointwise ? xg : col.data();
          parallel_for(panels, Mg * K * kSgemmCols, [&](int64_t b, int64_t e) {
            run_group(n, gi, bmat, b * kSgemmCols, std::min(e * kSgemmCols, out_size));
          });
        }
    }
    bias_done = clamp_done = true;
    }
  }
  if (bias_done) {
    // done by the tiled kernel
  } else if (depthwise) {
    // Parallel over (image, channel) planes; the bias is fused.
    const T* bias = c.has(2) ? c.in(2).template data<T>() : nullptr;
    parallel_for(N * C, g.kernel_size() * out_size, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t n = i / C, ch = i % C;
        depthwise2d(g, xp + (n * C + ch) * in_size, wp + ch * g.kernel_size(), bias ? bias[ch] : T(0),
                    yp + (n * M + ch) * out_size);
      }
    });
    bias_done = true;
  } else if (N == 1 && pointwise) {
    for (int64_t gi = 0; gi < group; ++gi)  // the input planes already are the GEMM operand
      gemm<T>(false, false, Mg, out_size, K, T(1), wp + gi * Mg * K, K, xp + gi * Cg * in_size, out_size, T(0),
              yp + gi * Mg * out_size, out_size);
  } else {
    // Several images side by side in one [K, images * out_size] matrix, so that each group is
    // one wide GEMM (which Eigen splits well across threads) instead of many narrow ones. Images
    // are taken in chunks that keep the matrix near 32 MiB.
    const int64_t per_image = K * out_size;
    const int64_t chunk = std::clamp<int64_t>((int64_t{8} << 20) / std::max<int64_t>(per_image, 1), 1, N);
    std::vector<T> col(static_cast<size_t>(per_image * chunk));
    std::vector<T> out(N == 1 ? 0 : static_cast<size_t>(Mg * out_size * chunk));
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
      const int64_t images = std::min(chunk, N - n0), width = images * out_size;
      for (int64_t gi = 0; gi < group; ++gi) {
        for (int64_t i = 0; i < images; ++i) {
          const T* xg = xp + ((n0 + i) * C + gi * Cg) * in_size;
          if (pointwise) {
            for (int64_t ch = 0; ch < Cg; ++ch)
              std::copy(xg + ch * in_size, xg + (ch + 1) * in_size, col.data() + ch * width + i * out_size);
          } else {
            im2col(g, Cg, xg, T(0), col.data() + i * out_size, width);
          }
        }
        const T* wg = wp + gi * Mg * K;
        if (images == 1) {  // write straight into the output
          gemm<T>(false, false, Mg, out_size, K, T(1), wg, K, col.data(), out_size, T(0),
                  yp + (n0 * M + gi * Mg) * out_size, out_size);
          continue;
        }
        gemm<T>(false, false, Mg, width, K, T(1), wg, K, col.data(), width, T(0), out.data(), width);
        parallel_for(images * Mg, out_size, [&](int64_t b, int64_t e) {
          for (int64_t j = b; j < e; ++j) {
            const int64_t i = j / Mg, m = j % Mg;
            const T* src = out.data() + m * width + i * out_size;
            std::copy(src, src + out_size, yp + ((n0 + i) * M + gi * Mg + m) * out_size);
          }
        });
      }
    }
  }
  if (c.has(2) && !bias_done) {
    const T* bias = c.in(2).data<T>();
    parallel_for(N * M, out_size, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T* row = yp + i * out_size;
        const T bv = bias[i % M];
        for (int64_t j = 0; j < out_size; ++j) row[j] += bv;
      }
    });
  }
  if (fused && !clamp_done) {
    const T lo = static_cast<T>(c.clamp_lo), hi = static_cast<T>(c.clamp_hi);
    parallel_for(y.numel(), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) yp[i] = std::min(std::max(yp[i], lo), hi);
    });
  }
  c.outputs[0] = std::move(y);
}

void op_conv(KernelContext& c) {
  dispatch_float(c, c.in(0).dtype(), [&](auto tag) { conv_float<decltype(tag)>(c); });
}

template <typename T>
void conv_transpose_float(KernelContext& c) {
  const Tensor &x = c.in(0), &w = c.in(1);
  if (x.rank() < 3) c.fail("input must be at least 3-D, got {}", shape_to_string(x.shape()));
  const int64_t N = x.dim(0), C = x.dim(1), group = c.node.get_int("group", 1);
  if (group <= 0 || C % group != 0 || w.dim(0) != C) c.fail("weight shape {} does not match input channels {}", shape_to_string(w.shape()), C);
  const int64_t Mg = w.dim(1), M = Mg * group, Cg = C / group;
  const size_t rank = static_cast<size_t>(x.rank() - 2);
  std::vector<int64_t> in = spatial(x.shape()), kernel = c.node.get_ints("kernel_shape", spatial(w.shape()));
  std::vector<int64_t> stride = c.node.get_ints("strides", std::vector<int64_t>(rank, 1));
  std::vector<int64_t> dil = c.node.get_ints("dilations", std::vector<int64_t>(rank, 1));
  std::vector<int64_t> pads = c.node.get_ints("pads", std::vector<int64_t>(2 * rank, 0));
  std::vector<int64_t> out_pad = c.node.get_ints("output_padding", std::vector<int64_t>(rank, 0));
  std::vector<int64_t> out_shape_attr = c.node.get_ints("output_shape");
  const std::string auto_pad = c.node.get_string("auto_pad", "NOTSET");
  if (out_shape_attr.size() > rank) out_shape_attr.erase(out_shape_attr.begin(), out_shape_attr.end() - static_cast<long>(rank));
  if (out_shape_attr.empty() && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER"))
    for (size_t i = 0; i < rank; ++i) out_shape_attr.push_back(in[i] * stride[i]);
  // The geometry of the equivalent forward conv: "in" is ConvTranspose's output.
  WindowGeometry g;
  g.kernel = kernel;
  g.stride = stride;
  g.dilation = dil;
  g.out = in;
  g.in.resize(rank);
  g.pad_begin.resize(rank);
  g.pad_end.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t span = (kernel[i] - 1) * dil[i] + 1;
    if (!out_shape_attr.empty()) {
      const int64_t total = stride[i] * (in[i] - 1) + out_pad[i] + span - out_shape_attr[i];
      // total < 0 means the requested output is larger than the conv covers; ONNX splits it with
      // floor division (Python's //), so the extra lands at the end.
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? half : total - half;
      g.pad_end[i] = total - g.pad_begin[i];
      g.in[i] = out_shape_attr[i];
    } else {
      g.pad_begin[i] = pads[i];
      g.pad_end[i] = pads[i + rank];
      g.in[i] = stride[i] * (in[i] - 1) + out_pad[i] + span - pads[i] - pads[i + rank];
    }
  }
  Shape out_shape{N, M};
  out_shape.insert(out_shape.end(), g.in.begin(), g.in.end());
  Tensor y(x.dtype(), out_shape);
  const int64_t in_size = shape_numel(in), out_size = g.in_size(), ksize = g.kernel_size();
  std::vector<T> col(static_cast<size_t>(Mg * ksize * in_size));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      // col[Mg*K, in] = W_g^T [Mg*K, Cg] * X_g [Cg, in]
      gemm<T>(true, false, Mg * ksize, in_size, Cg, T(1), w.data<T>() + gi * Cg * Mg * ksize, Mg * ksize,
              x.data<T>() + (n * C + gi * Cg) * in_size, in_size, T(0), col.data(), in_size);
      col2im(g, Mg, col.data(), y.data<T>() + (n * M + gi * Mg) * out_size);
    }
  if (c.has(2)) {
    const T* bias = c.in(2).data<T>();
    for (int64_t i = 0; i < N * M; ++i)
      for (int64_t j = 0; j < out_size; ++j) y.data<T>()[i * out_size + j] += bias[i % M];
  }
  c.outputs[0] = std::move(y);
}

void op_conv_transpose(KernelContext& c) {
  dispatch_float(c, c.in(0).dtype(), [&](auto tag) { conv_transpose_float<decltype(tag)>(c); });
}

// Exact integer convolution: acc = sum (x - x_zp) * (w - w_zp[m]), padding contributes 0.
Tensor integer_conv(const KernelContext& c, const Tensor& x, const Tensor& w, const Tensor* x_zp, const Tensor* w_zp) {
  if (x.rank() < 3) c.fail("input must be at least 3-D, got {}", shape_to_string(x.shape()));
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), group = c.node.get_int("group", 1);
  if (group <= 0 || C % group != 0 || w.dim(1) * group != C)
    c.fail("channels {} / group {} do not match weight shape {}", C, group, shape_to_string(w.shape()));
  if (x_zp && x_zp->numel() != 1) c.fail("input zero point must be a scalar");
  if (w_zp && w_zp->numel() != 1 && w_zp->numel() != M) c.fail("weight zero point must be a scalar or have {} entries", M);
  WindowGeometry g = window_geometry(c, spatial(x.shape()), spatial(w.shape()));
  Shape out_shape{N, M};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  Tensor y(DType::Int32, out_shape);
  const int64_t Cg = C / group, Mg = M / group, K = Cg * g.kernel_size(), in_size = g.in_size(), out_size = g.out_size();
  const int32_t xz = x_zp ? static_cast<int32_t>(x_zp->get_as_int64(0)) : 0;
  std::vector<int32_t> xs(static_cast<size_t>(x.numel())), ws(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) xs[static_cast<size_t>(i)] = static_cast<int32_t>(x.get_as_int64(i)) - xz;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t m = i / K;
    const int32_t wz = w_zp ? static_cast<int32_t>(w_zp->get_as_int64(w_zp->numel() == 1 ? 0 : m)) : 0;
    ws[static_cast<size_t>(i)] = static_cast<int32_t>(w.get_as_int64(i)) - wz;
  }
  std::vector<int32_t> col(static_cast<size_t>(K * out_size));
  int32_t* yp = y.data<int32_t>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < group; ++gi) {
      im2col<int32_t>(g, Cg, xs.data() + (n * C + gi * Cg) * in_size, 0, col.data());
      parallel_for(Mg, K * out_size, [&](int64_t b, int64_t e) {
        for (int64_t m = b; m < e; ++m) {
          int32_t* out = yp + (n * M + gi * Mg + m) * out_size;
          const int32_t* wrow = ws.data() + (gi * Mg + m) * K;
          for (int64_t k = 0; k < K; ++k) {
            const int32_t wv = wrow[k];
            if (wv == 0) continue;
            const int32_t* crow = col.data() + k * out_size;
            for (int64_t p = 0; p < out_size; ++p) out[p] += wv * crow[p];
          }
        }
      });
    }
  return y;
}

void op_conv_integer(KernelContext& c) {
  c.outputs[0] = integer_conv(c, c.in(0), c.in(1), c.has(2) ? &c.in(2) : nullptr, c.has(3) ? &c.in(3) : nullptr);
}

void op_qlinear_conv(KernelContext& c) {
  const Tensor &x = c.in(0), &x_scale = c.in(1), &x_zp = c.in(2), &w = c.in(3), &w_scale = c.in(4), &w_zp = c.in(5);
  const Tensor &y_scale = c.in(6), &y_zp = c.in(7);
  Tensor acc = integer_conv(c, x, w, &x_zp, &w_zp);
  const int64_t M = acc.dim(1), plane = acc.numel() / std::max<int64_t>(acc.dim(0) * M, 1);
  Tensor y(y_zp.dtype(), acc.shape());
  const float xs = static_cast<float>(x_scale.get_as_double(0)), ys = static_cast<float>(y_scale.get_as_double(0));
  const int64_t zp = y_zp.get_as_int64(0);
  for (int64_t i = 0; i < acc.numel(); ++i) {
    const int64_t m = (i / plane) % M;
    int64_t a = acc.data<int32_t>()[i];
    if (c.has(8)) a += c.in(8).data<int32_t>()[m];
    const float ws = static_cast<float>(w_scale.get_as_double(w_scale.numel() == 1 ? 0 : m));
    const float v = static_cast<float>(a) * (xs * ws / ys);
    store_quantized(y, i, std::nearbyint(v) + static_cast<double>(zp));
  }
  c.outputs[0] = std::move(y);
}

}  // namespace

void register_conv_ops(Registry& r) {
  r["Conv"] = op_conv;
  r["ConvTranspose"] = op_conv_transpose;
  r["ConvInteger"] = op_conv_integer;
  r["QLinearConv"] = op_qlinear_conv;
}

}  // namespace dyad::ops
