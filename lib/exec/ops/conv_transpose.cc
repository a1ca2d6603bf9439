// ConvTranspose in float: per group, col = W_gᵀ·X_g (one GEMM), then col2im scatters the
// columns into the output (the adjoint of Conv's im2col).
#include "lib/exec/gemm.h"
#include "lib/exec/ops/conv_geometry.h"
#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

std::vector<int64_t> spatial(const Shape& s) { return {s.begin() + 2, s.end()}; }

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

}  // namespace

void register_conv_transpose_ops(Registry& r) { r["ConvTranspose"] = op_conv_transpose; }

}  // namespace dyad::ops
