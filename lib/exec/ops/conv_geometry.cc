#include "lib/exec/ops/conv_geometry.h"

#include <algorithm>

#include "lib/exec/ops/op_util.h"

namespace dyad::ops {

namespace {

// Ceiling of a / b for b > 0 and any sign of a.
int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// For kernel tap `tap` (a flat index over the kernel's dims), calls fn(p, offset) for every
// output position p, with the tap's input offset within a channel plane, or -1 in the padding.
// Any number of spatial dims; an odometer walks the output positions.
template <typename F>
void for_each_tap_position(const WindowGeometry& g, int64_t tap, F&& fn) {
  const size_t rank = g.in.size();
  std::vector<int64_t> k(rank), o(rank, 0);
  for (size_t d = rank; d-- > 0;) {
    k[d] = tap % g.kernel[d];
    tap /= g.kernel[d];
  }
  const int64_t out_size = g.out_size();
  for (int64_t p = 0; p < out_size; ++p) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank && offset >= 0; ++d) {
      const int64_t i = o[d] * g.stride[d] - g.pad_begin[d] + k[d] * g.dilation[d];
      offset = (i < 0 || i >= g.in[d]) ? -1 : offset * g.in[d] + i;
    }
    fn(p, offset);
    for (size_t d = rank; d-- > 0;) {
      if (++o[d] < g.out[d]) break;
      o[d] = 0;
    }
  }
}

}  // namespace

int64_t WindowGeometry::in_size() const { return shape_numel(in); }
int64_t WindowGeometry::out_size() const { return shape_numel(out); }
int64_t WindowGeometry::kernel_size() const { return shape_numel(kernel); }

WindowGeometry window_geometry(const KernelContext& ctx, const std::vector<int64_t>& in,
                               const std::vector<int64_t>& kernel, bool ceil_mode) {
  const size_t rank = in.size();
  WindowGeometry g;
  g.in = in;
  g.kernel = ctx.node.get_ints("kernel_shape", kernel);
  if (g.kernel.size() != rank) ctx.fail("kernel_shape has {} dims but the input has {} spatial dims", g.kernel.size(), rank);
  g.stride = ctx.node.get_ints("strides", std::vector<int64_t>(rank, 1));
  g.dilation = ctx.node.get_ints("dilations", std::vector<int64_t>(rank, 1));
  std::vector<int64_t> pads = ctx.node.get_ints("pads", std::vector<int64_t>(2 * rank, 0));
  if (g.stride.size() != rank || g.dilation.size() != rank || pads.size() != 2 * rank)
    ctx.fail("strides/dilations/pads do not match {} spatial dims", rank);
  const std::string auto_pad = ctx.node.get_string("auto_pad", "NOTSET");
  g.pad_begin.assign(pads.begin(), pads.begin() + static_cast<long>(rank));
  g.pad_end.assign(pads.begin() + static_cast<long>(rank), pads.end());
  g.out.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (g.stride[i] <= 0 || g.dilation[i] <= 0) ctx.fail("strides and dilations must be positive");
    const int64_t span = (g.kernel[i] - 1) * g.dilation[i] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out[i] = (in[i] + g.stride[i] - 1) / g.stride[i];
      const int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * g.stride[i] + span - in[i]);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pad_end[i] = total - g.pad_begin[i];
      continue;
    }
    if (auto_pad == "VALID") g.pad_begin[i] = g.pad_end[i] = 0;
    const int64_t padded = in[i] + g.pad_begin[i] + g.pad_end[i] - span;
    if (padded < 0) ctx.fail("kernel larger than padded input in spatial dim {}", i);
    g.out[i] = (ceil_mode ? (padded + g.stride[i] - 1) / g.stride[i] : padded / g.stride[i]) + 1;
    // With ceil_mode the last window must start inside the input or its begin padding.
    if (ceil_mode && (g.out[i] - 1) * g.stride[i] >= in[i] + g.pad_begin[i]) --g.out[i];
  }
  return g;
}

template <typename T>
void im2col_row(const WindowGeometry& g, const T* x, int64_t row, T pad, T* dst) {
  const int64_t in_size = g.in_size(), ksize = g.kernel_size();
  if (g.in.size() == 2) {
    const int64_t H = g.in[0], W = g.in[1], OH = g.out[0], OW = g.out[1], KH = g.kernel[0], KW = g.kernel[1];
    const int64_t sh = g.stride[0], sw = g.stride[1], dh = g.dilation[0], dw = g.dilation[1];
    const int64_t ph = g.pad_begin[0], pw = g.pad_begin[1];
    const int64_t c = row / (KH * KW), kh = (row / KW) % KH, kw = row % KW;
    const T* plane = x + c * in_size;
    // Output columns whose input column is inside [0, W) form one range [lo, hi) that depends
    // only on kw, so the bounds test leaves the inner loops.
    const int64_t lo = std::clamp<int64_t>(ceil_div(pw - kw * dw, sw), 0, OW);
    const int64_t hi = std::clamp<int64_t>(ceil_div(W + pw - kw * dw, sw), lo, OW);
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t ih = oh * sh - ph + kh * dh;
      T* d = dst + oh * OW;
      if (ih < 0 || ih >= H) {
        std::fill(d, d + OW, pad);
        continue;
      }
      const T* src = plane + ih * W + kw * dw - pw;  // src[ow * sw] is the input for ow
      std::fill(d, d + lo, pad);
      if (sw == 1) std::copy(src + lo, src + hi, d + lo);
      else
        for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow * sw];
      std::fill(d + hi, d + OW, pad);
    }
    return;
  }
  // Any rank.
  const T* plane = x + (row / ksize) * in_size;
  for_each_tap_position(g, row % ksize, [&](int64_t p, int64_t offset) { dst[p] = offset >= 0 ? plane[offset] : pad; });
}

template <typename T>
void im2col(const WindowGeometry& g, int64_t channels, const T* x, T pad, T* col, int64_t col_stride) {
  const int64_t out_size = g.out_size();
  if (col_stride == 0) col_stride = out_size;
  parallel_for(channels * g.kernel_size(), out_size, [&](int64_t rb, int64_t re) {
    for (int64_t row = rb; row < re; ++row) im2col_row(g, x, row, pad, col + row * col_stride);
  });
}

template <typename T>
void col2im(const WindowGeometry& g, int64_t channels, const T* col, T* y) {
  const int64_t in_size = g.in_size(), out_size = g.out_size(), ksize = g.kernel_size();
  // Channels are independent; taps of one channel add into the same plane, so stay serial there.
  parallel_for(channels, ksize * out_size, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c)
      for (int64_t tap = 0; tap < ksize; ++tap) {
        const T* src = col + (c * ksize + tap) * out_size;
        T* plane = y + c * in_size;
        for_each_tap_position(g, tap, [&](int64_t p, int64_t offset) {
          if (offset >= 0) plane[offset] += src[p];
        });
      }
  });
}

template void im2col<float>(const WindowGeometry&, int64_t, const float*, float, float*, int64_t);
template void im2col<double>(const WindowGeometry&, int64_t, const double*, double, double*, int64_t);
template void im2col<uint8_t>(const WindowGeometry&, int64_t, const uint8_t*, uint8_t, uint8_t*, int64_t);
template void im2col<int32_t>(const WindowGeometry&, int64_t, const int32_t*, int32_t, int32_t*, int64_t);
template void im2col_row<uint8_t>(const WindowGeometry&, const uint8_t*, int64_t, uint8_t, uint8_t*);
template void col2im<float>(const WindowGeometry&, int64_t, const float*, float*);
template void col2im<double>(const WindowGeometry&, int64_t, const double*, double*);

}  // namespace dyad::ops
