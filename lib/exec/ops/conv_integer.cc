// ConvInteger and QLinearConv. The accumulator is sum (x - x_zp) * (w - w_zp[m]) in int32, with
// padding contributing exactly 0. The common W8A8 case (uint8 input, int8 weights without a zero
// point) runs on the integer GEMM kernels (integer_kernels/qgemm.h) over an im2col padded with
// x_zp; everything else on the plain reference loops here. QLinearConv then requantizes as ONNX
// Runtime does: the float32 product acc * (s_x * s_w / s_y), rounded half to even.
#include <cmath>
#include <memory>

#include "integer_kernels/qgemm.h"
#include "lib/exec/ops/conv_geometry.h"
#include "lib/exec/ops/conv_integer_kernels.h"
#include "lib/exec/ops/node_cache.h"
#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/quant_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

std::vector<int64_t> spatial(const Shape& s) { return {s.begin() + 2, s.end()}; }

bool all_zero(const Tensor* t) {
  if (!t) return true;
  for (int64_t i = 0; i < t->numel(); ++i)
    if (t->get_as_int64(i) != 0) return false;
  return true;
}

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
  if (x.dtype() == DType::UInt8 && w.dtype() == DType::Int8 && all_zero(w_zp) && qgemm_isa_best() != QIsa::Reference)
    return integer_conv_kernels(c, g, x, w, x_zp ? static_cast<int32_t>(x_zp->get_as_int64(0)) : 0, out_shape);
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

// ai.dyad.exec.ConvIntegerRequant(x, W, x_zp, B, M, D, H, ZP, QMIN, QMAX) (lib/exec/fuse_integer.h):
// ConvInteger, + B, DyadicRequant with D = 2^s, in the GEMM's output stage.
void op_conv_integer_requant(KernelContext& c) {
  const Tensor &x = c.in(0), &w = c.in(1), &bias = c.in(3);
  const int64_t channels = w.dim(0);
  // Each channel's multiplier and zero point, made once from the (constant) M, D and ZP.
  struct Tables {
    std::vector<DyadicMultiplier> multipliers;
    std::vector<int32_t> zero_points;
  };
  auto make_tables = [&] {
    auto per_channel = [&](size_t i, int64_t ch) { return c.in(i).data<int64_t>()[c.in(i).numel() == 1 ? 0 : ch]; };
    Tables t;
    for (int64_t ch = 0; ch < channels; ++ch) {
      t.multipliers.push_back({static_cast<int32_t>(per_channel(4, ch)), __builtin_ctzll(static_cast<unsigned long long>(per_channel(5, ch)))});
      t.zero_points.push_back(static_cast<int32_t>(per_channel(7, ch)));
    }
    return t;
  };
  Tables uncached;
  const bool constant = c.input_is_constant(5) && c.input_is_constant(7);  // input 4 is the cache's key
  const Tables& tables = constant ? derived_from_input<Tables>(c, 4, make_tables, CacheSlot::OutputStage) : (uncached = make_tables());
  ConvOutputStage stage;
  stage.bias = bias.data<int32_t>();
  stage.multipliers = tables.multipliers.data();
  stage.zero_points = tables.zero_points.data();
  stage.qmin = static_cast<int32_t>(c.in(8).data<int64_t>()[0]);
  stage.qmax = static_cast<int32_t>(c.in(9).data<int64_t>()[0]);
  const int32_t x_zero_point = static_cast<int32_t>(c.in(2).get_as_int64(0));
  if (x.dtype() == DType::UInt8 && qgemm_isa_best() != QIsa::Reference && x.rank() >= 3 && w.dim(1) * c.node.get_int("group", 1) == x.dim(1)) {
    const WindowGeometry& g = derived_from_shapes<WindowGeometry>(c, CacheSlot::Geometry, {&x.shape(), &w.shape()},
                                                                  [&] { return window_geometry(c, spatial(x.shape()), spatial(w.shape())); });
    Shape out_shape{x.dim(0), channels};
    out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
    c.outputs[0] = integer_conv_kernels(c, g, x, w, x_zero_point, out_shape, &stage);
    return;
  }
  // Anywhere else (the reference ISA forced): the unfused arithmetic, element by element.
  const Tensor acc = integer_conv(c, x, w, &c.in(2), nullptr);
  Tensor y = Tensor::uninitialized(DType::UInt8, acc.shape());
  const int64_t inner = acc.numel() / (acc.dim(0) * channels);
  for (int64_t i = 0; i < acc.numel(); ++i) {
    const int64_t ch = (i / inner) % channels;
    const int32_t a = static_cast<int32_t>(static_cast<uint32_t>(acc.data<int32_t>()[i]) + static_cast<uint32_t>(stage.bias[ch]));
    y.data<uint8_t>()[i] = static_cast<uint8_t>(dyadic_requantize(a, stage.multipliers[ch], stage.zero_points[ch], stage.qmin, stage.qmax));
  }
  c.outputs[0] = std::move(y);
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

void register_conv_integer_ops(Registry& r) {
  r["ConvInteger"] = op_conv_integer;
  r["ai.dyad.exec.ConvIntegerRequant"] = op_conv_integer_requant;
  r["QLinearConv"] = op_qlinear_conv;
}

}  // namespace dyad::ops
