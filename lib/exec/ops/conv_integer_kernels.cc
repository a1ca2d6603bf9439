#include "lib/exec/ops/conv_integer_kernels.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "integer_kernels/qdepthwise.h"
#include "integer_kernels/qgemm.h"
#include "lib/exec/executor.h"
#include "lib/exec/ops/node_cache.h"
#include "lib/exec/ops/op_util.h"

namespace dyad::ops {

namespace {

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// One product of `rows` x `columns` shared by the threads: by 32-column tiles or by weight
// panels of row_align rows, whichever splits it more evenly (qgemm_split_by_rows: a late
// layer's 7 x 7 outputs are two tiles, which two threads would share unevenly). Each thread
// first runs prepare(thread, threads) (its share of making the activations), then, once all
// have, fn(m_begin, m_end, n_begin, n_end): one parallel region per product instead of two.
template <typename Prepare, typename F>
void share_product(const KernelContext& c, int64_t rows, int64_t columns, int64_t k, int64_t row_align, Prepare&& prepare, F&& fn) {
  const int64_t tiles = (columns + 31) / 32, panels = (rows + row_align - 1) / row_align;
  const int threads = omp_get_max_threads();
  const bool by_rows = qgemm_split_by_rows(rows, columns, row_align, threads);
  const int64_t units = by_rows ? panels : tiles, cost = by_rows ? row_align * k * columns : 32 * rows * k;
  auto chunk = [&](int64_t b, int64_t e) {
    if (by_rows) fn(b * row_align, std::min(rows, e * row_align), int64_t{0}, columns);
    else fn(int64_t{0}, rows, 32 * b, std::min(columns, 32 * e));
  };
  // One thread below ExecOptions::min_shared_product multiply-adds (2^22, about 10 us of work):
  // sharing a product costs an OpenMP region (2.4-2.8 us here, a futex system call) and each
  // thread reading activations the other core packed. With parallel_for's threshold (2^17) a
  // batch-1 small ResNet took 0.63-0.72x ORT's time on the float model on two threads, slower
  // than on one; with 2^22, 0.40-0.41x (bench/integer_end_to_end, two runs in turn; 2^20:
  // 0.53-0.62x, 2^21: 0.45-0.46x).
  const int64_t min_work = c.executor ? c.executor->options().min_shared_product : ExecOptions{}.min_shared_product;
  if (threads <= 1 || units < 2 || units * cost < min_work) {
    prepare(0, 1);
    chunk(0, units);
    return;
  }
  const int chunks = static_cast<int>(std::min<int64_t>(units, threads));
  // The threads meet on a counter they spin on: libgomp's "omp barrier" cost microseconds here
  // (it measured slower than two parallel regions).
  std::atomic<int> prepared{0};
#pragma omp parallel num_threads(chunks)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    prepare(t, n);
    prepared.fetch_add(1, std::memory_order_acq_rel);
    while (prepared.load(std::memory_order_acquire) < n) spin_pause();
    chunk(units * t / n, units * (t + 1) / n);
  }
}

// Weights packed for the integer GEMM, one set per group, cached per node. `in_place` orders
// each row's k as (channel quad, kh, kw, channel % 4), zero-padding channels to a multiple of
// four, to match the in-place input layout below; otherwise k is ONNX's (channel, kh, kw).
const std::vector<QPackedWeights>& packed_weights(const KernelContext& c, QIsa isa, const Tensor& w, int64_t group, int64_t mg,
                                                  int64_t k, bool in_place, int64_t columns) {
  return derived_from_input<std::vector<QPackedWeights>>(c, 1, [&] {
    std::vector<QPackedWeights> groups;
    const int8_t* data = w.data<int8_t>();
    // For the first input shape's product (any layout computes any shape; this one wastes the
    // fewest lanes on it).
    const QWeightLayout layout = qgemm_layout_for(isa, mg, columns, k);
    if (!in_place) {
      for (int64_t gi = 0; gi < group; ++gi) groups.push_back(qgemm_pack_weights(isa, data + gi * mg * k, mg, k, k, layout));
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
      groups.push_back(qgemm_pack_weights(isa, reordered.data(), mg, k2, k2, layout));
    }
    return groups;
  });
}

// In place: a 2-D convolution reads its input without im2col. Each (image, group)'s channels
// are padded with the zero point, split into stride phases (phase (a, b) holds padded rows
// a, a + sh, ... and columns b, b + sw, ...; a single phase at stride 1) and stored four
// channels interleaved: [C/4][phases][Hq * Wq + Wq][4]. An im2col column's four k at one tap are
// then four adjacent bytes, and each (channel quad, tap) row of the im2col matrix is one phase
// shifted by (kh / sh) * Wq + kw / sw. The GEMM computes every column of the phase width,
// OH * Wq of them; the Wq - OW extra ones per row read past the row's end (into the next row or
// the Wq bytes of slack) and are dropped by the GEMM as it writes (QOutputStage::column_pitch).
struct InPlaceLayout {
  int64_t hp, wp;      // padded input
  int64_t hq, wq;      // one phase
  int64_t phases, plane;  // plane: one phase's bytes per channel, slack included
};

InPlaceLayout in_place_layout(const WindowGeometry& g) {
  InPlaceLayout l;
  l.hp = g.in[0] + g.pad_begin[0] + g.pad_end[0];
  l.wp = g.in[1] + g.pad_begin[1] + g.pad_end[1];
  l.hq = (l.hp + g.stride[0] - 1) / g.stride[0];
  l.wq = (l.wp + g.stride[1] - 1) / g.stride[1];
  l.phases = g.stride[0] * g.stride[1];
  l.plane = l.hq * l.wq + l.wq;
  return l;
}

// Any 2-D geometry with a kernel larger than 1x1.
bool in_place_applies(const WindowGeometry& g) {
  if (g.in.size() != 2 || g.kernel_size() == 1) return false;  // 1x1: im2col is the input or a subsample of it
  const InPlaceLayout l = in_place_layout(g);
  return g.out[0] == (l.hp - (g.kernel[0] - 1) * g.dilation[0] - 1) / g.stride[0] + 1 &&
         g.out[1] == (l.wp - (g.kernel[1] - 1) * g.dilation[1] - 1) / g.stride[1] + 1;
}

// Writes channels [0, channels) of `planes` (H x W each) into `buffer` in the in-place layout
// (the channel quads [quad_begin, quad_end) of them, by default all):
// each row of each phase is four input rows read at the phase's columns, interleaved, with the
// zero point wherever the padding is.
void fill_in_place(const WindowGeometry& g, const InPlaceLayout& l, const uint8_t* planes, int64_t channels, uint8_t pad,
                   uint8_t* buffer, int64_t quad_begin = 0, int64_t quad_end = -1) {
  const int64_t H = g.in[0], W = g.in[1], sh = g.stride[0], sw = g.stride[1], wq = l.wq;
  if (quad_end < 0) quad_end = (channels + 3) / 4;
  for (int64_t q = quad_begin; q < quad_end; ++q) {
    const uint8_t* in[4];
    for (int64_t j = 0; j < 4; ++j) in[j] = q * 4 + j < channels ? planes + (q * 4 + j) * H * W : nullptr;  // past the end: pad
    for (int64_t phase = 0; phase < l.phases; ++phase) {
      const int64_t pa = phase / sw, pb = phase % sw;
      uint8_t* out = buffer + (q * l.phases + phase) * l.plane * 4;
      qgemm_interleave_phase(in, H, W, pa - g.pad_begin[0], sh, l.hq, pb - g.pad_begin[1], sw, wq, pad, out);
      std::memset(out + l.hq * wq * 4, pad, static_cast<size_t>(wq * 4));  // slack read by the dropped columns
    }
  }
}

Tensor in_place_conv(const KernelContext& c, const WindowGeometry& g, const Tensor& x, const Tensor& w, int32_t x_zero_point,
                     const ConvOutputStage* stage, Tensor y) {
  const QIsa isa = qgemm_isa_best();
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), group = c.node.get_int("group", 1);
  const int64_t Cg = C / group, Mg = M / group, quads = (Cg + 3) / 4, taps = g.kernel_size(), in_size = g.in_size();
  const InPlaceLayout l = in_place_layout(g);
  const int64_t OH = g.out[0], OW = g.out[1], out_size = OH * OW, wq = l.wq, columns = OH * wq;
  const int64_t k = quads * taps * 4;  // the GEMM's k: channels padded to whole quads
  const auto& packed = packed_weights(c, isa, w, group, Mg, Cg * taps, true, columns);
  // The activations as the GEMM reads them: quad (channel quad, kh, kw) at its offset in the
  // buffer; made once per input shape, pointed at each item's buffer as it is filled.
  const QPackedActivations& addressing = derived_from_shapes<QPackedActivations>(c, CacheSlot::Plan, {&x.shape(), &w.shape()}, [&] {
    std::vector<int64_t> offsets;
    for (int64_t q = 0; q < quads; ++q)
      for (int64_t kh = 0; kh < g.kernel[0]; ++kh)
        for (int64_t kw = 0; kw < g.kernel[1]; ++kw) {
          const int64_t dy = kh * g.dilation[0], dx = kw * g.dilation[1];
          const int64_t phase = (dy % g.stride[0]) * g.stride[1] + dx % g.stride[1];
          offsets.push_back(((q * l.phases + phase) * l.plane + (dy / g.stride[0]) * wq + dx / g.stride[1]) * 4);
        }
    return qgemm_activations_indirect(isa, k, columns, nullptr, std::move(offsets));
  });
  // Each thread's copy of the addressing, based at its own buffer (a copy into the vectors'
  // existing capacity: no allocation after the first calls).
  auto activations_at = [&](const uint8_t* buffer) -> const QPackedActivations& {
    thread_local QPackedActivations acts;
    acts = addressing;
    acts.base = buffer;
    return acts;
  };
  const uint8_t pad = static_cast<uint8_t>(x_zero_point);
  // Columns [begin, end) of item's product, written straight into y: each output row's wq -
  // OW junk columns are dropped by the GEMM's output stage.
  auto multiply = [&](int64_t item, const QPackedActivations& acts, int64_t m_begin, int64_t m_end, int64_t begin, int64_t end) {
    const int64_t n = item / group, gi = item % group;
    QOutputStage out;
    out.column_pitch = wq;
    out.kept_columns = OW;
    if (stage) {
      out.multipliers = stage->multipliers + gi * Mg;
      out.qmin = stage->qmin;
      out.qmax = stage->qmax;
      out.zero_points = stage->zero_points + gi * Mg;
      qgemm_rows(packed[static_cast<size_t>(gi)], acts, x_zero_point, stage->bias + gi * Mg, m_begin, m_end, begin, end, QOutput::UInt8,
                 out, y.data<uint8_t>() + (n * M + gi * Mg) * out_size, out_size);
    } else {
      qgemm_rows(packed[static_cast<size_t>(gi)], acts, x_zero_point, nullptr, m_begin, m_end, begin, end, QOutput::Int32, out,
                 y.data<int32_t>() + (n * M + gi * Mg) * out_size, out_size);
    }
  };
  auto planes_of = [&](int64_t item) { return x.data<uint8_t>() + ((item / group) * C + (item % group) * Cg) * in_size; };
  const int64_t items = N * group;
  const size_t buffer_bytes = static_cast<size_t>(quads * l.phases * l.plane * 4);
  if (items >= omp_get_max_threads()) {
    parallel_for_balanced(items, Mg * k * columns, [&](int64_t b, int64_t e) {
      thread_local std::vector<uint8_t> buffer;
      buffer.resize(buffer_bytes);
      const QPackedActivations& acts = activations_at(buffer.data());
      for (int64_t item = b; item < e; ++item) {
        fill_in_place(g, l, planes_of(item), Cg, pad, buffer.data());
        multiply(item, acts, 0, Mg, 0, columns);
      }
    });
    return y;
  }
  thread_local std::vector<uint8_t> buffer;  // every byte the GEMM reads is written by the fill
  buffer.resize(buffer_bytes);
  uint8_t* const shared = buffer.data();  // this thread's buffer, which the others fill too
  const QPackedActivations& acts = activations_at(shared);
  for (int64_t item = 0; item < items; ++item) {
    auto fill_share = [&](int t, int n) { fill_in_place(g, l, planes_of(item), Cg, pad, shared, quads * t / n, quads * (t + 1) / n); };
    share_product(c, Mg, columns, k, qgemm_row_panel(packed[0]), fill_share, [&](int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end) {
      multiply(item, acts, m_begin, m_end, n_begin, n_end);
    });
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
    std::vector<QDepthwiseOutput> outs(static_cast<size_t>(C));
    for (int64_t ch = 0; ch < C; ++ch)
      if (stage) outs[static_cast<size_t>(ch)] = {stage->bias[ch], QOutput::UInt8, stage->multipliers[ch], stage->zero_points[ch], stage->qmin, stage->qmax};
    // Work items are runs of channels within one image.
    constexpr int64_t kChannelsPerItem = 16;
    const int64_t runs = (C + kChannelsPerItem - 1) / kChannelsPerItem;
    parallel_for(N * runs, kChannelsPerItem * K * out_size, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        const int64_t n = item / runs, c0 = (item % runs) * kChannelsPerItem, count = std::min(kChannelsPerItem, C - c0);
        qdepthwise_conv2d(isa, s, count, x.data<uint8_t>() + (n * C + c0) * in_size, x_zero_point, w.data<int8_t>() + c0 * K,
                          outs.data() + c0, static_cast<uint8_t*>(y.raw()) + (n * C + c0) * out_size * out_bytes);
      }
    });
    return y;
  }
  // In place pads each group's channels to a multiple of four: for one or two channels (a
  // grayscale stem) that multiplies the work by 4 or 2, more than building im2col rows costs.
  if (in_place_applies(g) && Cg >= 3) return in_place_conv(c, g, x, w, x_zero_point, stage, std::move(y));
  const auto& packed = packed_weights(c, isa, w, group, Mg, K, false, out_size);
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
  // Quads [q_begin, q_end) of item's activations. A 1x1 convolution's quad is four channel
  // planes read at the stride, which one phase interleave writes straight into the packing
  // (the Strided layout: whole rows at a time).
  const bool one_by_one = g.in.size() == 2 && g.kernel_size() == 1;
  auto reset = [&](QPackedActivations& acts) {
    if (one_by_one) qgemm_activations_reset_strided(isa, K, out_size, acts);
    else qgemm_activations_reset(isa, K, out_size, acts, qgemm_tile_columns_for(packed[0], out_size));  // the width its kernel reads best
  };
  auto pack_quads = [&](int64_t item, QPackedActivations& acts, int64_t q_begin, int64_t q_end) {
    if (!one_by_one) return qgemm_pack_activation_rows(acts, 4 * q_begin, 4 * q_end, rows_of(item));
    const uint8_t* planes = x.data<uint8_t>() + ((item / group) * C + (item % group) * Cg) * in_size;
    for (int64_t q = q_begin; q < q_end; ++q) {
      const uint8_t* quad[4];
      for (int64_t j = 0; j < 4; ++j) quad[j] = q * 4 + j < Cg ? planes + (q * 4 + j) * in_size : nullptr;  // past the end: pad
      qgemm_interleave_phase(quad, g.in[0], g.in[1], -g.pad_begin[0], g.stride[0], g.out[0], -g.pad_begin[1], g.stride[1], g.out[1], pad,
                             acts.data.data() + q * out_size * 4);
    }
  };
  auto multiply = [&](int64_t item, const QPackedActivations& acts, int64_t m_begin, int64_t m_end, int64_t col_begin, int64_t col_end) {
    const int64_t n = item / group, gi = item % group;
    if (stage) {
      const QOutputStage out{stage->multipliers + gi * Mg, 0, stage->qmin, stage->qmax, stage->zero_points + gi * Mg};
      qgemm_rows(packed[static_cast<size_t>(gi)], acts, x_zero_point, stage->bias + gi * Mg, m_begin, m_end, col_begin, col_end,
                 QOutput::UInt8, out, y.data<uint8_t>() + (n * M + gi * Mg) * out_size, out_size);
    } else {
      qgemm_rows(packed[static_cast<size_t>(gi)], acts, x_zero_point, nullptr, m_begin, m_end, col_begin, col_end, QOutput::Int32, {},
                 y.data<int32_t>() + (n * M + gi * Mg) * out_size, out_size);
    }
  };
  const int64_t items = N * group, rows = (K + 3) / 4 * 4;
  if (items >= omp_get_max_threads()) {  // a batch: one (image, group) product per thread at a time
    parallel_for_balanced(items, Mg * K * out_size, [&](int64_t b, int64_t e) {
      thread_local QPackedActivations acts;
      for (int64_t item = b; item < e; ++item) {
        reset(acts);
        pack_quads(item, acts, 0, rows / 4);
        multiply(item, acts, 0, Mg, 0, out_size);
      }
    });
    return y;
  }
  // One image: the threads share the packing (by groups of four rows), then the product.
  QPackedActivations acts;
  const int64_t quads = rows / 4;
  for (int64_t item = 0; item < items; ++item) {
    reset(acts);
    auto pack_share = [&](int t, int n) { pack_quads(item, acts, quads * t / n, quads * (t + 1) / n); };
    share_product(c, Mg, out_size, K, qgemm_row_panel(packed[0]), pack_share, [&](int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end) {
      multiply(item, acts, m_begin, m_end, n_begin, n_end);
    });
  }
  return y;
}

}  // namespace dyad::ops
