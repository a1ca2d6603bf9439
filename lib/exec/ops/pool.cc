// Pooling: MaxPool (with optional indices), AveragePool, GlobalAveragePool, GlobalMaxPool,
// over any number of spatial dimensions.
#include <limits>

#include "lib/exec/ops/conv_geometry.h"
#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

enum class PoolKind { Max, Average };

// 2-D pooling without indices: per output row, the window's valid rows and columns are clamped
// once, so the inner loops carry no bounds tests (the general N-d loop below tests every tap).
template <typename T>
void pool2d(const WindowGeometry& g, PoolKind kind, bool include_pad, int64_t planes, const T* xp, T* yp) {
  const int64_t H = g.in[0], W = g.in[1], OH = g.out[0], OW = g.out[1];
  parallel_for(planes, g.out_size() * g.kernel_size(), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const T* src = xp + plane * H * W;
      T* dst = yp + plane * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = oh * g.stride[0] - g.pad_begin[0];
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = ow * g.stride[1] - g.pad_begin[1];
          T best = std::numeric_limits<T>::lowest();
          double sum = 0;
          int64_t valid = 0, padded = 0;
          for (int64_t kh = 0; kh < g.kernel[0]; ++kh) {
            const int64_t ih = h0 + kh * g.dilation[0];
            const bool row_in_pad = ih < H + g.pad_end[0];
            if (ih < 0 || ih >= H) {
              if (row_in_pad)
                for (int64_t kw = 0; kw < g.kernel[1]; ++kw) padded += w0 + kw * g.dilation[1] < W + g.pad_end[1];
              continue;
            }
            const T* row = src + ih * W;
            for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
              const int64_t iw = w0 + kw * g.dilation[1];
              padded += iw < W + g.pad_end[1];
              if (iw < 0 || iw >= W) continue;
              ++valid;
              best = std::max(best, row[iw]);
              sum += static_cast<double>(row[iw]);
            }
          }
          if (kind == PoolKind::Max) {
            dst[oh * OW + ow] = best;
          } else {
            const int64_t divisor = include_pad ? padded : valid;
            dst[oh * OW + ow] = divisor ? static_cast<T>(sum / static_cast<double>(divisor)) : T(0);
          }
        }
      }
    }
  });
}

template <typename T>
void pool(KernelContext& c, PoolKind kind) {
  const Tensor& x = c.in(0);
  if (x.rank() < 3) c.fail("input must be at least 3-D, got {}", shape_to_string(x.shape()));
  const std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  const bool ceil_mode = c.node.get_int("ceil_mode", 0) != 0;
  if (!c.node.has("kernel_shape")) c.fail("kernel_shape is required");
  WindowGeometry g = window_geometry(c, in, {}, ceil_mode);
  const bool include_pad = c.node.get_int("count_include_pad", 0) != 0;
  const size_t rank = in.size();
  Shape out_shape{x.dim(0), x.dim(1)};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  Tensor y = Tensor::uninitialized(x.dtype(), out_shape);
  Tensor indices;
  const bool want_indices = kind == PoolKind::Max && c.outputs.size() > 1;
  if (want_indices) indices = Tensor(DType::Int64, out_shape);
  const bool column_major = c.node.get_int("storage_order", 0) == 1;
  const int64_t planes = x.dim(0) * x.dim(1), in_size = g.in_size(), out_size = g.out_size(), ksize = g.kernel_size();
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  if (rank == 2 && !want_indices) {
    pool2d(g, kind, include_pad, planes, xp, yp);
    c.outputs[0] = std::move(y);
    return;
  }
  parallel_for(planes, out_size * ksize, [&](int64_t pb, int64_t pe) {
    std::vector<int64_t> o(rank), k(rank), pos(rank);
    for (int64_t plane = pb; plane < pe; ++plane) {
      const T* src = xp + plane * in_size;
      std::fill(o.begin(), o.end(), 0);
      for (int64_t p = 0; p < out_size; ++p) {
        double sum = 0;
        T best = std::numeric_limits<T>::lowest();
        int64_t best_index = -1, valid = 0, padded = 0;
        std::fill(k.begin(), k.end(), 0);
        for (int64_t t = 0; t < ksize; ++t) {
          bool inside = true, in_padded = true;
          int64_t offset = 0;
          for (size_t d = 0; d < rank; ++d) {
            pos[d] = o[d] * g.stride[d] - g.pad_begin[d] + k[d] * g.dilation[d];
            inside = inside && pos[d] >= 0 && pos[d] < g.in[d];
            in_padded = in_padded && pos[d] < g.in[d] + g.pad_end[d];
            offset = offset * g.in[d] + pos[d];
          }
          padded += in_padded;
          if (inside) {
            const T v = src[offset];
            ++valid;
            sum += static_cast<double>(v);
            if (v > best || best_index < 0) {
              best = v;
              if (column_major) {  // index in (..., W, H) order
                offset = 0;
                for (size_t d = rank; d-- > 0;) offset = offset * g.in[d] + pos[d];
              }
              best_index = plane * in_size + offset;
            }
          }
          for (size_t d = rank; d-- > 0;) {
            if (++k[d] < g.kernel[d]) break;
            k[d] = 0;
          }
        }
        if (kind == PoolKind::Max) {
          yp[plane * out_size + p] = best;
          if (want_indices) indices.data<int64_t>()[plane * out_size + p] = best_index;
        } else {
          const int64_t divisor = include_pad ? padded : valid;
          yp[plane * out_size + p] = divisor ? static_cast<T>(sum / static_cast<double>(divisor)) : T(0);
        }
        for (size_t d = rank; d-- > 0;) {
          if (++o[d] < g.out[d]) break;
          o[d] = 0;
        }
      }
    }
  });
  c.outputs[0] = std::move(y);
  if (want_indices) c.outputs[1] = std::move(indices);
}

void op_max_pool(KernelContext& c) {
  const DType t = c.in(0).dtype();
  if (t == DType::Int8) return pool<int8_t>(c, PoolKind::Max);
  if (t == DType::UInt8) return pool<uint8_t>(c, PoolKind::Max);
  dispatch_float(c, t, [&](auto tag) { pool<decltype(tag)>(c, PoolKind::Max); });
}

void op_average_pool(KernelContext& c) {
  dispatch_float(c, c.in(0).dtype(), [&](auto tag) { pool<decltype(tag)>(c, PoolKind::Average); });
}

template <bool kMax>
void global_pool(KernelContext& c) {
  const Tensor& x = c.in(0);
  if (x.rank() < 3) c.fail("input must be at least 3-D, got {}", shape_to_string(x.shape()));
  Shape out_shape(static_cast<size_t>(x.rank()), 1);
  out_shape[0] = x.dim(0);
  out_shape[1] = x.dim(1);
  Tensor y(x.dtype(), out_shape);
  const int64_t planes = x.dim(0) * x.dim(1), size = x.numel() / std::max<int64_t>(planes, 1);
  dispatch_float(c, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    parallel_for(planes, size, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const T* src = xp + p * size;
        if constexpr (kMax) {
          T best = std::numeric_limits<T>::lowest();
          for (int64_t i = 0; i < size; ++i) best = std::max(best, src[i]);
          y.data<T>()[p] = best;
        } else {
          T sum = 0;
          for (int64_t i = 0; i < size; ++i) sum += src[i];
          y.data<T>()[p] = sum / static_cast<T>(size);
        }
      }
    });
  });
  c.outputs[0] = std::move(y);
}

}  // namespace

void register_pool_ops(Registry& r) {
  r["MaxPool"] = op_max_pool;
  r["AveragePool"] = op_average_pool;
  r["GlobalAveragePool"] = global_pool<false>;
  r["GlobalMaxPool"] = global_pool<true>;
}

}  // namespace dyad::ops
