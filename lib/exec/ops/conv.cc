// Conv in float. Strategies, chosen per call:
//   - depthwise (one channel per group): a direct loop per plane (lib/exec/depthwise.h);
//   - AVX-512 CPUs: the register-tiled kernel (lib/exec/sgemm_tile.h) without im2col: reading the
//     input in place for stride-1 "same" convolutions, or its stride x stride phase planes for
//     strided ones; im2col remains for 1-D/3-D and geometries the planes cannot cover;
//   - other CPUs: im2col + Eigen GEMM, one image per thread (measured 3x faster here than batching
//     images into one wide GEMM, which streams a matrix larger than the caches).
// Bias and a Relu/Clip fused by the executor (ctx.clamp_lo/hi) are applied while the output is hot.
#include <algorithm>
#include <limits>
#include <memory>

#include "lib/exec/depthwise.h"
#include "lib/exec/gemm.h"
#include "lib/exec/sgemm_tile.h"
#include "lib/exec/ops/conv_geometry.h"
#include "lib/exec/ops/node_cache.h"
#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

std::vector<int64_t> spatial(const Shape& s) { return {s.begin() + 2, s.end()}; }

// Everything a strategy needs about one Conv call.
template <typename T>
struct ConvCall {
  const KernelContext& ctx;
  WindowGeometry g;
  int64_t n, c, m, group, cg, mg, k, in_size, out_size;
  const T *x, *w, *bias;
  T* y;
  bool pointwise;
  bool fused() const {
    return ctx.clamp_lo > -std::numeric_limits<float>::infinity() || ctx.clamp_hi < std::numeric_limits<float>::infinity();
  }
  // Clamps rows [0, rows) x columns [c0, c1) of a row-major block with row stride out_size.
  void clamp(T* base, int64_t rows, int64_t c0, int64_t c1) const {
    if (!fused()) return;
    const T lo = static_cast<T>(ctx.clamp_lo), hi = static_cast<T>(ctx.clamp_hi);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = c0; j < c1; ++j) base[r * out_size + j] = std::min(std::max(base[r * out_size + j], lo), hi);
  }
  T* output(int64_t image, int64_t gi) const { return y + (image * m + gi * mg) * out_size; }
  const T* input(int64_t image, int64_t gi) const { return x + (image * c + gi * cg) * in_size; }
};

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

template <typename T>
void conv_depthwise(const ConvCall<T>& cc) {
  parallel_for(cc.n * cc.c, cc.g.kernel_size() * cc.out_size, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t image = i / cc.c, ch = i % cc.c;
      T* out = cc.output(image, ch);
      depthwise2d(cc.g, cc.input(image, ch), cc.w + ch * cc.g.kernel_size(), cc.bias ? cc.bias[ch] : T(0), out);
      cc.clamp(out, 1, 0, cc.out_size);
    }
  });
}

// Weights packed into the tile kernel's panel layout, one set per group (cached per node).
const std::vector<std::vector<float>>& packed_weights(const KernelContext& c, const Tensor& w, int64_t group, int64_t mg,
                                                      int64_t k) {
  return derived_from_input<std::vector<std::vector<float>>>(c, 1, [&] {
    std::vector<std::vector<float>> groups;
    for (int64_t gi = 0; gi < group; ++gi) groups.push_back(sgemm_pack_a(w.data<float>() + gi * mg * k, mg, k, k));
    return groups;
  });
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Maps a 2-D convolution onto the implicit kernel (see ImplicitConvShape). `direct`: a stride-1
// convolution as large as its input reads the input itself. Otherwise the input is split into
// phase planes of the output's size, one per (row, column) residue mod the stride that some tap
// reads (`phases`, in plane order). Returns false when a tap could need an input element beyond
// the planes' extent (then im2col is used).
bool plan_implicit(const WindowGeometry& g, int64_t channels, ImplicitConvShape& shape, bool& direct,
                   std::vector<std::pair<int64_t, int64_t>>& phases) {
  if (g.in.size() != 2) return false;
  const int64_t H = g.in[0], W = g.in[1], OH = g.out[0], OW = g.out[1], sh = g.stride[0], sw = g.stride[1];
  direct = sh == 1 && sw == 1 && OH == H && OW == W;
  shape = {channels, OH, OW, H * W, {}};
  phases.clear();
  for (int64_t kh = 0; kh < g.kernel[0]; ++kh)
    for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
      const int64_t a = kh * g.dilation[0] - g.pad_begin[0], b = kw * g.dilation[1] - g.pad_begin[1];
      if (direct) {
        shape.taps.push_back({a * W + b, a, b});
        continue;
      }
      // Input row oh * sh + a = sh * (oh + qh) + rh: plane row oh + qh of phase rh.
      const int64_t qh = floor_div(a, sh), rh = a - qh * sh, qw = floor_div(b, sw), rw = b - qw * sw;
      if ((qh > 0 && sh * OH + rh < H) || (qw > 0 && sw * OW + rw < W)) return false;
      const auto phase = std::make_pair(rh, rw);
      auto it = std::find(phases.begin(), phases.end(), phase);
      const int64_t index = it - phases.begin();
      if (it == phases.end()) phases.push_back(phase);
      shape.taps.push_back({index * OH * OW + qh * OW + qw, qh, qw});
    }
  if (!direct) shape.channel_stride = static_cast<int64_t>(phases.size()) * OH * OW;
  return true;
}

// The phase planes of one image's channels: plane i of channel c holds
// x[c][sh * r + phases[i].first][sw * j + phases[i].second] for r < OH, j < OW (0 outside x).
void build_phase_planes(const WindowGeometry& g, int64_t channels, const std::vector<std::pair<int64_t, int64_t>>& phases,
                        const float* x, float* planes) {
  const int64_t H = g.in[0], W = g.in[1], OH = g.out[0], OW = g.out[1], sh = g.stride[0], sw = g.stride[1];
  for (int64_t c = 0; c < channels; ++c)
    for (size_t p = 0; p < phases.size(); ++p) {
      const auto [rh, rw] = phases[p];
      float* dst = planes + (c * static_cast<int64_t>(phases.size()) + static_cast<int64_t>(p)) * OH * OW;
      const int64_t valid = std::clamp<int64_t>((W - rw + sw - 1) / sw, 0, OW);
      for (int64_t i = 0; i < OH; ++i) {
        const int64_t ih = sh * i + rh;
        float* d = dst + i * OW;
        if (ih >= H) {
          std::fill(d, d + OW, 0.0f);
          continue;
        }
        const float* src = x + (c * H + ih) * W + rw;
        for (int64_t j = 0; j < valid; ++j) d[j] = src[j * sw];
        std::fill(d + valid, d + OW, 0.0f);
      }
    }
}

void conv_tiled(KernelContext& ctx, const ConvCall<float>& cc, SgemmTileFn tile) {
  const auto& packed = packed_weights(ctx, ctx.in(1), cc.group, cc.mg, cc.k);
  const WindowGeometry& g = cc.g;
  const int64_t panels = (cc.out_size + kSgemmCols - 1) / kSgemmCols;
  const int threads = omp_get_max_threads();
  auto bias_of = [&](int64_t gi) { return cc.bias ? cc.bias + gi * cc.mg : nullptr; };
  ImplicitConvShape shape;
  bool direct = false;
  std::vector<std::pair<int64_t, int64_t>> phases;
  if (plan_implicit(g, cc.cg, shape, direct, phases)) {
    auto panel_range = [&](int64_t image, int64_t gi, const float* src, int64_t first, int64_t end) {
      const int64_t p0 = first * kSgemmCols, p1 = std::min(end * kSgemmCols, cc.out_size);
      implicit_conv_avx512(packed[static_cast<size_t>(gi)].data(), cc.mg, shape, src, p0, p1, cc.output(image, gi),
                           bias_of(gi));
      cc.clamp(cc.output(image, gi), cc.mg, p0, p1);
    };
    if (direct) {  // the input is the source: split (image, group, panel) across threads
      parallel_for(cc.n * cc.group * panels, cc.mg * cc.k * kSgemmCols, [&](int64_t b, int64_t e) {
        for (int64_t item = b; item < e; ++item) {
          const int64_t image = item / (cc.group * panels), gi = (item / panels) % cc.group, panel = item % panels;
          panel_range(image, gi, cc.input(image, gi), panel, panel + 1);
        }
      });
      return;
    }
    const size_t planes_size = static_cast<size_t>(cc.cg * shape.channel_stride);
    if (cc.n >= threads) {  // one image per thread, each with its own phase planes
      parallel_for(cc.n, cc.m * cc.k * cc.out_size, [&](int64_t b, int64_t e) {
        std::vector<float> planes(planes_size);
        for (int64_t image = b; image < e; ++image)
          for (int64_t gi = 0; gi < cc.group; ++gi) {
            build_phase_planes(g, cc.cg, phases, cc.input(image, gi), planes.data());
            panel_range(image, gi, planes.data(), 0, panels);
          }
      });
      return;
    }
    std::vector<float> planes(planes_size);
    for (int64_t image = 0; image < cc.n; ++image)
      for (int64_t gi = 0; gi < cc.group; ++gi) {
        build_phase_planes(g, cc.cg, phases, cc.input(image, gi), planes.data());
        parallel_for(panels, cc.mg * cc.k * kSgemmCols,
                     [&](int64_t first, int64_t end) { panel_range(image, gi, planes.data(), first, end); });
      }
    return;
  }
  // Columns [c0, c1) of one (image, group) product, reading B = the im2col matrix (or the input).
  auto columns = [&](int64_t image, int64_t gi, const float* b, int64_t c0, int64_t c1) {
    tile(packed[static_cast<size_t>(gi)].data(), cc.mg, cc.k, b, cc.out_size, c0, c1, cc.output(image, gi), cc.out_size,
         bias_of(gi));
    cc.clamp(cc.output(image, gi), cc.mg, c0, c1);
  };
  const size_t col_size = cc.pointwise ? 0 : static_cast<size_t>(cc.k * cc.out_size);
  if (cc.n >= threads) {  // one image per thread
    parallel_for(cc.n, cc.m * cc.k * cc.out_size, [&](int64_t b, int64_t e) {
      std::vector<float> col(col_size);
      for (int64_t image = b; image < e; ++image)
        for (int64_t gi = 0; gi < cc.group; ++gi) {
          if (!cc.pointwise) im2col(g, cc.cg, cc.input(image, gi), 0.0f, col.data());
          columns(image, gi, cc.pointwise ? cc.input(image, gi) : col.data(), 0, cc.out_size);
        }
    });
    return;
  }
  std::vector<float> col(col_size);  // few images: split each product's columns across threads
  for (int64_t image = 0; image < cc.n; ++image)
    for (int64_t gi = 0; gi < cc.group; ++gi) {
      if (!cc.pointwise) im2col(g, cc.cg, cc.input(image, gi), 0.0f, col.data());
      const float* b = cc.pointwise ? cc.input(image, gi) : col.data();
      parallel_for(panels, cc.mg * cc.k * kSgemmCols, [&](int64_t first, int64_t end) {
        columns(image, gi, b, first * kSgemmCols, std::min(end * kSgemmCols, cc.out_size));
      });
    }
}

// im2col + Eigen GEMM, then bias and clamp.
template <typename T>
void conv_eigen(const ConvCall<T>& cc) {
  auto image_product = [&](int64_t image, T* col) {
    for (int64_t gi = 0; gi < cc.group; ++gi) {
      const T* b = cc.input(image, gi);
      if (!cc.pointwise) {
        im2col(cc.g, cc.cg, b, T(0), col);
        b = col;
      }
      T* out = cc.output(image, gi);
      gemm<T>(false, false, cc.mg, cc.out_size, cc.k, T(1), cc.w + gi * cc.mg * cc.k, cc.k, b, cc.out_size, T(0), out,
              cc.out_size);
      for (int64_t r = 0; r < cc.mg && cc.bias; ++r)
        for (int64_t j = 0; j < cc.out_size; ++j) out[r * cc.out_size + j] += cc.bias[gi * cc.mg + r];
      cc.clamp(out, cc.mg, 0, cc.out_size);
    }
  };
  const size_t col_size = cc.pointwise ? 0 : static_cast<size_t>(cc.k * cc.out_size);
  if (cc.n >= omp_get_max_threads() && omp_get_max_threads() > 1) {  // one image per thread, single-threaded GEMMs
    parallel_for(cc.n, cc.m * cc.k * cc.out_size, [&](int64_t b, int64_t e) {
      std::vector<T> col(col_size);
      for (int64_t image = b; image < e; ++image) image_product(image, col.data());
    });
    return;
  }
  std::vector<T> col(col_size);  // Eigen spreads each GEMM across the threads
  for (int64_t image = 0; image < cc.n; ++image) image_product(image, col.data());
}

template <typename T>
void conv_float(KernelContext& ctx) {
  const Tensor &x = ctx.in(0), &w = ctx.in(1);
  if (x.rank() < 3) ctx.fail("input must be at least 3-D (N, C, spatial...), got {}", shape_to_string(x.shape()));
  const int64_t n = x.dim(0), c = x.dim(1), m = w.dim(0), group = ctx.node.get_int("group", 1);
  if (group <= 0 || c % group != 0 || m % group != 0 || w.dim(1) * group != c)
    ctx.fail("channels {} / group {} do not match weight shape {}", c, group, shape_to_string(w.shape()));
  WindowGeometry g = window_geometry(ctx, spatial(x.shape()), spatial(w.shape()));
  Shape out_shape{n, m};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  Tensor y = Tensor::uninitialized(x.dtype(), out_shape);  // every strategy writes every element
  bool pointwise = g.kernel_size() == 1;
  for (size_t d = 0; d < g.in.size(); ++d)
    pointwise = pointwise && g.stride[d] == 1 && g.pad_begin[d] == 0 && g.pad_end[d] == 0;
  const ConvCall<T> cc{ctx, g, n, c, m, group, c / group, m / group, (c / group) * g.kernel_size(), g.in_size(),
                       g.out_size(), x.data<T>(), w.data<T>(), ctx.has(2) ? ctx.in(2).data<T>() : nullptr,
                       y.data<T>(), pointwise};
  const bool depthwise = cc.cg == 1 && cc.mg == 1 && g.in.size() == 2;
  if (depthwise) {
    conv_depthwise(cc);
  } else if constexpr (std::is_same_v<T, float>) {
    if (const SgemmTileFn tile = sgemm_tile_best()) conv_tiled(ctx, cc, tile);
    else conv_eigen(cc);
  } else {
    conv_eigen(cc);
  }
  ctx.outputs[0] = std::move(y);
}

void op_conv(KernelContext& c) {
  dispatch_float(c, c.in(0).dtype(), [&](auto tag) { conv_float<decltype(tag)>(c); });
}

}  // namespace

void register_conv_ops(Registry& r) { r["Conv"] = op_conv; }

}  // namespace dyad::ops
