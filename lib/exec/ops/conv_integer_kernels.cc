#include "lib/exec/ops/conv_integer_kernels.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "integer_kernels/qdepthwise.h"
#include "integer_kernels/qgemm.h"
#include "lib/exec/ops/node_cache.h"
#include "lib/exec/ops/op_util.h"

namespace dyad::ops {

namespace {

// Weights packed for the integer GEMM, one set per group, cached per node. `in_place` orders
// each row's k as (channel quad, kh, kw, channel % 4), zero-padding channels to a multiple of
// four, to match the in-place input layout below; otherwise k is ONNX's (channel, kh, kw).
const std::vector<QPackedWeights>& packed_weights(const KernelContext& c, QIsa isa, const Tensor& w, int64_t group, int64_t mg,
                                                  int64_t k, bool in_place) {
  return derived_from_input<std::vector<QPackedWeights>>(c, 1, [&] {
    std::vector<QPackedWeights> groups;
    const int8_t* data = w.data<int8_t>();
    if (!in_place) {
      for (int64_t gi = 0; gi < group; ++gi) groups.push_back(qgemm_pack_weights(isa, data + gi * mg * k, mg, k, k));
      return groups;
    }
    const int64_t taps = w.dim(2) * w.dim(3), channels = w.dim(1), quads = (channels + 3) / 4, k2 = quads * taps * 4;
    std::vector<int8_t> reordered(static_cast<size_t>(mg * k2));
    for (int64_t gi = 0; gi < group; ++gi) {
      std::fill(reordered.begin(), reordered.end(), int8_t{0});
      for (int64_t m = 0; m < mg; ++m)
        for (int64_t ch = 0; ch < channels; ++ch)
          for (int64_t t = 0; t < taps; ++t)
            reordered[static_cast<size_t>(m * k2 + ((ch / 4) * taps + t) * 4 + ch % 4)] = data[((gi * mg + m) * channels + ch) * taps + t];
      groups.push_back(qgemm_pack_weights(isa, reordered.data(), mg, k2, k2));
    }
    return groups;
  });
}

// In place: a stride-1 2-D convolution reads its input without im2col. Each (image, group)'s
// channels are padded with the zero point and stored four channels interleaved,
// [C/4][Hp * Wp + Wp][4], so an im2col column's four k at one tap (four channels) are four
// adjacent bytes and each (channel quad, tap) row of the im2col matrix is the buffer shifted by
// kh * Wp + kw. The GEMM computes every column of the padded width, OH * Wp of them; the Wp - OW
// extra ones per row read past the row's end (into the next row or the Wp bytes of slack) and
// are dropped when the output is compacted.
bool in_place_applies(const WindowGeometry& g) {
  if (g.in.size() != 2 || g.stride[0] != 1 || g.stride[1] != 1 || g.kernel_size() == 1) return false;
  const int64_t hp = g.in[0] + g.pad_begin[0] + g.pad_end[0], wp = g.in[1] + g.pad_begin[1] + g.pad_end[1];
  return g.out[0] == hp - (g.kernel[0] - 1) * g.dilation[0] && g.out[1] == wp - (g.kernel[1] - 1) * g.dilation[1];
}

// Writes channels [0, channels) of `planes` (H x W each) into `buffer` in the in-place layout.
void fill_in_place(const WindowGeometry& g, const uint8_t* planes, int64_t channels, uint8_t pad, uint8_t* buffer) {
  const int64_t H = g.in[0], W = g.in[1], hp = H + g.pad_begin[0] + g.pad_end[0], wp = W + g.pad_begin[1] + g.pad_end[1];
  const int64_t plane = hp * wp + wp, quads = (channels + 3) / 4;
  thread_local std::vector<uint8_t> rows;
  rows.assign(static_cast<size_t>(5 * wp), pad);  // four padded input rows, then one of padding
  const uint8_t* pad_row = rows.data() + 4 * wp;
  for (int64_t q = 0; q < quads; ++q) {
    uint8_t* out = buffer + q * plane * 4;
    for (int64_t r = 0; r < hp; ++r) {
      const int64_t ih = r - g.pad_begin[0];
      const uint8_t* src[4];
      for (int64_t j = 0; j < 4; ++j) {
        const int64_t ch = q * 4 + j;
        if (ch >= channels || ih < 0 || ih >= H) {
          src[j] = pad_row;  // padding, or a channel past the end (its weights are 0)
          continue;
        }
        uint8_t* row = rows.data() + j * wp;  // its pad columns already hold `pad`
        std::memcpy(row + g.pad_begin[1], planes + (ch * H + ih) * W, static_cast<size_t>(W));
        src[j] = row;
      }
      qgemm_interleave_quad(src, wp, out + r * wp * 4);
    }
    std::memset(out + hp * wp * 4, pad, static_cast<size_t>(wp * 4));  // slack read by the dropped columns
  }
}

Tensor in_place_conv(const KernelContext& c, const WindowGeometry& g, const Tensor& x, const Tensor& w, int32_t x_zero_point,
                     const ConvOutputStage* stage, Tensor y) {
  const QIsa isa = qgemm_isa_best();
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), group = c.node.get_int("group", 1);
  const int64_t Cg = C / group, Mg = M / group, quads = (Cg + 3) / 4, taps = g.kernel_size(), in_size = g.in_size();
  const int64_t hp = g.in[0] + g.pad_begin[0] + g.pad_end[0], wp = g.in[1] + g.pad_begin[1] + g.pad_end[1];
  const int64_t plane = hp * wp + wp, OH = g.out[0], OW = g.out[1], out_size = OH * OW, columns = OH * wp;
  const int64_t k = quads * taps * 4;  // the GEMM's k: channels padded to whole quads
  const auto& packed = packed_weights(c, isa, w, group, Mg, Cg * taps, true);
  std::vector<int64_t> offsets;  // quad (channel quad, kh, kw) -> its start in the buffer
  for (int64_t q = 0; q < quads; ++q)
    for (int64_t kh = 0; kh < g.kernel[0]; ++kh)
      for (int64_t kw = 0; kw < g.kernel[1]; ++kw) offsets.push_back((q * plane + kh * g.dilation[0] * wp + kw * g.dilation[1]) * 4);
  const size_t out_bytes = stage ? 1 : 4;
  const uint8_t pad = static_cast<uint8_t>(x_zero_point);
  // Columns [begin, end) of item's product into `wide` (Mg x columns), then (compact) the valid
  // ones into y.
  auto multiply = [&](int64_t item, const QPackedActivations& acts, uint8_t* wide, int64_t begin, int64_t end) {
    const int64_t gi = item % group;
    if (stage) {
      const QOutputStage out{stage->multipliers.data() + gi * Mg, stage->zero_point, stage->qmin, stage->qmax};
      qgemm(packed[static_cast<size_t>(gi)], acts, x_zero_point, stage->bias + gi * Mg, begin, end, QOutput::UInt8, out, wide, columns);
    } else {
      qgemm(packed[static_cast<size_t>(gi)], acts, x_zero_point, nullptr, begin, end, QOutput::Int32, {}, wide, columns);
    }
  };
  auto compact = [&](int64_t item, const uint8_t* wide) {
    const int64_t n = item / group, gi = item % group;
    uint8_t* dst = static_cast<uint8_t*>(y.raw()) + (n * M + gi * Mg) * out_size * out_bytes;
    for (int64_t m = 0; m < Mg; ++m)
      for (int64_t oh = 0; oh < OH; ++oh)
        std::memcpy(dst + (m * out_size + oh * OW) * out_bytes, wide + (m * columns + oh * wp) * out_bytes, static_cast<size_t>(OW) * out_bytes);
  };
  auto planes_of = [&](int64_t item) { return x.data<uint8_t>() + ((item / group) * C + (item % group) * Cg) * in_size; };
  const int64_t items = N * group;
  if (items >= omp_get_max_threads()) {
    parallel_for(items, Mg * k * columns, [&](int64_t b, int64_t e) {
      thread_local std::vector<uint8_t> buffer, wide;
      buffer.resize(static_cast<size_t>(quads * plane * 4));
      wide.resize(static_cast<size_t>(Mg * columns) * out_bytes);
      for (int64_t item = b; item < e; ++item) {
        fill_in_place(g, planes_of(item), Cg, pad, buffer.data());
        multiply(item, qgemm_activations_indirect(isa, k, columns, buffer.data(), offsets), wide.data(), 0, columns);
        compact(item, wide.data());
      }
    });
    return y;
  }
  std::vector<uint8_t> buffer(static_cast<size_t>(quads * plane * 4)), wide(static_cast<size_t>(Mg * columns) * out_bytes);
  const int64_t column_tiles = (columns + 31) / 32;
  for (int64_t item = 0; item < items; ++item) {
    fill_in_place(g, planes_of(item), Cg, pad, buffer.data());
    const QPackedActivations acts = qgemm_activations_indirect(isa, k, columns, buffer.data(), offsets);
    parallel_for(column_tiles, 32 * Mg * k, [&](int64_t b, int64_t e) {
      multiply(item, acts, wide.data(), 32 * b, std::min(columns, 32 * e));
    });
    compact(item, wide.data());
  }
  return y;
}

}  // namespace

Tensor integer_conv_kernels(const KernelContext& c, const WindowGeometry& g, const Tensor& x, const Tensor& w, int32_t x_zero_point,
                            Shape out_shape, const ConvOutputStage* stage) {
  const QIsa isa = qgemm_isa_best();
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), group = c.node.get_int("group", 1);
  const int64_t Cg = C / group, Mg = M / group, K = Cg * g.kernel_size(), in_size = g.in_size(), out_size = g.out_size();
  Tensor y = Tensor::uninitialized(stage ? DType::UInt8 : DType::Int32, std::move(out_shape));
  if (group == C && Mg == 1 && g.in.size() == 2) {  // depthwise: its own kernel, one plane per call
    const QDepthwiseShape s{g.in[0],     g.in[1],     g.out[0],         g.out[1],         g.kernel[0],   g.kernel[1],
                            g.stride[0], g.stride[1], g.pad_begin[0],   g.pad_begin[1],   g.dilation[0], g.dilation[1]};
    const size_t out_bytes = stage ? 1 : 4;
    parallel_for(N * C, K * out_size, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        const int64_t ch = item % C;
        QDepthwiseOutput out;
        if (stage) out = {stage->bias[ch], QOutput::UInt8, stage->multipliers[static_cast<size_t>(ch)], stage->zero_point, stage->qmin, stage->qmax};
        qdepthwise_conv2d(isa, s, x.data<uint8_t>() + item * in_size, x_zero_point, w.data<int8_t>() + ch * K, out,
                          static_cast<uint8_t*>(y.raw()) + item * out_size * out_bytes);
      }
    });
    return y;
  }
  if (in_place_applies(g)) return in_place_conv(c, g, x, w, x_zero_point, stage, std::move(y));
  const auto& packed = packed_weights(c, isa, w, group, Mg, K, false);
  // A pointwise conv's im2col is its input; anything else builds each row as it is packed, so
  // the im2col matrix never exists whole.
  bool pointwise = g.kernel_size() == 1 && g.out == g.in;
  for (size_t d = 0; d < g.in.size(); ++d) pointwise = pointwise && g.stride[d] == 1 && g.pad_begin[d] == 0;
  const uint8_t pad = static_cast<uint8_t>(x_zero_point);
  auto rows_of = [&](int64_t item) -> QRowSource {
    const uint8_t* planes = x.data<uint8_t>() + ((item / group) * C + (item % group) * Cg) * in_size;
    if (pointwise) return [planes, in_size](int64_t r, uint8_t*) { return planes + r * in_size; };
    return [&g, planes, pad](int64_t r, uint8_t* scratch) {
      im2col_row<uint8_t>(g, planes, r, pad, scratch);
      return static_cast<const uint8_t*>(scratch);
    };
  };
  auto multiply = [&](int64_t item, const QPackedActivations& acts, int64_t col_begin, int64_t col_end) {
    const int64_t n = item / group, gi = item % group;
    if (stage) {
      const QOutputStage out{stage->multipliers.data() + gi * Mg, stage->zero_point, stage->qmin, stage->qmax};
      qgemm(packed[static_cast<size_t>(gi)], acts, x_zero_point, stage->bias + gi * Mg, col_begin, col_end, QOutput::UInt8, out,
            y.data<uint8_t>() + (n * M + gi * Mg) * out_size, out_size);
    } else {
      qgemm(packed[static_cast<size_t>(gi)], acts, x_zero_point, nullptr, col_begin, col_end, QOutput::Int32, {},
            y.data<int32_t>() + (n * M + gi * Mg) * out_size, out_size);
    }
  };
  const int64_t items = N * group, rows = (K + 3) / 4 * 4;
  if (items >= omp_get_max_threads()) {  // a batch: one (image, group) product per thread at a time
    parallel_for(items, Mg * K * out_size, [&](int64_t b, int64_t e) {
      thread_local QPackedActivations acts;
      for (int64_t item = b; item < e; ++item) {
        qgemm_activations_reset(isa, K, out_size, acts);
        qgemm_pack_activation_rows(acts, 0, rows, rows_of(item));
        multiply(item, acts, 0, out_size);
      }
    });
    return y;
  }
  // One image: the threads share the packing (by groups of four rows) and then the columns.
  QPackedActivations acts;
  const int64_t quads = rows / 4, column_tiles = (out_size + 31) / 32;
  for (int64_t item = 0; item < items; ++item) {
    qgemm_activations_reset(isa, K, out_size, acts);
    const QRowSource source = rows_of(item);
    parallel_for(quads, 4 * out_size, [&](int64_t b, int64_t e) { qgemm_pack_activation_rows(acts, 4 * b, 4 * e, source); });
    parallel_for(column_tiles, 32 * Mg * K, [&](int64_t b, int64_t e) { multiply(item, acts, 32 * b, std::min(out_size, 32 * e)); });
  }
  return y;
}

}  // namespace dyad::ops
