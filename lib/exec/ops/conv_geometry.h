// Output sizes and padding of convolution and pooling windows (ONNX's auto_pad rules), and the
// im2col / col2im transforms the float and integer convolutions share.
#pragma once
#include <vector>

#include "lib/exec/kernel.h"

namespace dyad::ops {

struct WindowGeometry {
  std::vector<int64_t> in, out, kernel, stride, dilation, pad_begin, pad_end;
  int64_t in_size() const;   // product of spatial input dims
  int64_t out_size() const;  // product of spatial output dims
  int64_t kernel_size() const;
};

// Reads kernel_shape (or takes it from `kernel`), strides, dilations, pads and auto_pad of a
// Conv/Pool node over the spatial dims `in`; ceil_mode applies to pooling.
WindowGeometry window_geometry(const KernelContext& ctx, const std::vector<int64_t>& in,
                               const std::vector<int64_t>& kernel, bool ceil_mode = false);

// col[(c * K + k) * col_stride + o] = x[c] at the input position of kernel tap k for output o,
// or `pad` outside the input. x holds `channels` planes of in_size elements. col_stride 0 means
// out_size (one image); a larger stride places several images side by side in one matrix.
template <typename T>
void im2col(const WindowGeometry& g, int64_t channels, const T* x, T pad, T* col, int64_t col_stride = 0);

// One row of that matrix: row = c * K + k, written to dst[0, out_size).
template <typename T>
void im2col_row(const WindowGeometry& g, const T* x, int64_t row, T pad, T* dst);

// The adjoint of im2col: y[c] += col at each tap's position (ConvTranspose). y must be zeroed.
template <typename T>
void col2im(const WindowGeometry& g, int64_t channels, const T* col, T* y);

}  // namespace dyad::ops
