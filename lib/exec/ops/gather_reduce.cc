// Indexing (Gather, GatherElements) and reductions (Reduce*, ArgMax, ArgMin).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "integer_kernels/qlookup.h"
#include "lib/exec/ops/broadcast.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

// A 1-D table indexed elementwise (the integer emitter's lookup tables): typed loads, no
// per-element memcpy.
template <typename T, typename I>
void gather_table_typed(const KernelContext& c, const T* table, int64_t size, const I* idx, int64_t n, T* out) {
  for (int64_t j = 0; j < n; ++j) {
    int64_t k = static_cast<int64_t>(idx[j]);
    if (k < 0) k += size;
    if (k < 0 || k >= size) c.fail("index {} is out of range for dimension {}", static_cast<int64_t>(idx[j]), size);
    out[j] = table[k];
  }
}

template <typename T>
bool gather_table_values(const KernelContext& c, const Tensor& x, const Tensor& indices, Tensor& y) {
  if (indices.dtype() == DType::Int32)
    gather_table_typed(c, x.data<T>(), x.numel(), indices.data<int32_t>(), indices.numel(), y.data<T>());
  else if (indices.dtype() == DType::Int64)
    gather_table_typed(c, x.data<T>(), x.numel(), indices.data<int64_t>(), indices.numel(), y.data<T>());
  else
    return false;
  return true;
}

// ai.dyad.exec.TableLookup(x, table) (lib/exec/fuse_integer.h): Gather(table, Cast(x, to)).
// Tables are copied by element size; a uint8 x indexes a 256+ table without any check.
template <typename Bits>
void table_lookup_typed(const KernelContext& c, const Tensor& x, const Tensor& table, Tensor& y) {
  const Bits* t = reinterpret_cast<const Bits*>(table.raw());
  Bits* out = reinterpret_cast<Bits*>(y.raw());
  const int64_t size = table.numel();
  if constexpr (sizeof(Bits) == 1) {
    if (x.dtype() == DType::UInt8 && size >= 256) {  // the emitter's uint8 -> uint8 tables
      parallel_for(x.numel(), 1, [&](int64_t b, int64_t e) {
        u8_lut256(lookup_isa_best(), reinterpret_cast<const uint8_t*>(t), x.data<uint8_t>() + b, e - b, reinterpret_cast<uint8_t*>(out) + b);
      });
      return;
    }
  }
  if (x.dtype() == DType::UInt8 && size >= 256) {
    const uint8_t* in = x.data<uint8_t>();
    parallel_for(x.numel(), 2, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) out[j] = t[in[j]];
    });
    return;
  }
  if (!dtype_is_integer(x.dtype())) c.fail("TableLookup takes integer indices, got {}", dtype_name(x.dtype()));
  const bool to_int32 = c.node.get_int("to", 0) == static_cast<int64_t>(DType::Int32);
  for (int64_t j = 0; j < x.numel(); ++j) {
    const int64_t raw = x.get_as_int64(j);
    int64_t k = to_int32 ? static_cast<int64_t>(static_cast<int32_t>(raw)) : raw;  // the Cast's wrap
    if (k < 0) k += size;
    if (k < 0 || k >= size) c.fail("index {} is out of range for dimension {}", raw, size);
    out[j] = t[k];
  }
}

// TableLookup with channel offsets: Gather(table, Cast(x) + offsets). The emitter's form, x
// [N, C, ...] uint8 and offsets [C, 1, ...] within the table, runs plane by plane on the byte
// lookup kernel; anything else broadcasts element by element with bounds checks.
void table_lookup_offsets(const KernelContext& c, const Tensor& x, const Tensor& table, const Tensor& offsets, Tensor& y) {
  const int32_t* off = offsets.data<int32_t>();
  const int64_t size = table.numel();
  bool planes = x.dtype() == DType::UInt8 && table.dtype() == DType::UInt8 && x.rank() >= 2 && offsets.rank() == x.rank() - 1 &&
                offsets.dim(0) == x.dim(1) && offsets.numel() == x.dim(1) && y.shape() == x.shape();
  for (int64_t ch = 0; planes && ch < offsets.numel(); ++ch) planes = off[ch] >= 0 && off[ch] + 256 <= size;
  if (planes) {
    const int64_t channels = x.dim(1), plane = x.numel() / std::max<int64_t>(x.dim(0) * channels, 1);
    parallel_for(x.dim(0) * channels, plane, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        u8_lut256(lookup_isa_best(), table.data<uint8_t>() + off[p % channels], x.data<uint8_t>() + p * plane, plane,
                  y.data<uint8_t>() + p * plane);
    });
    return;
  }
  if (!dtype_is_integer(x.dtype())) c.fail("TableLookup takes integer indices, got {}", dtype_name(x.dtype()));
  const size_t es = element_size(c, table.dtype());
  const auto xs = broadcast_strides(x.shape(), y.shape()), os = broadcast_strides(offsets.shape(), y.shape());
  const bool to_int32 = c.node.get_int("to", 0) == static_cast<int64_t>(DType::Int32);
  std::vector<int64_t> pos(static_cast<size_t>(y.rank()), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t xi = 0, oi = 0;
    for (int d = 0; d < y.rank(); ++d) {
      xi += pos[static_cast<size_t>(d)] * xs[static_cast<size_t>(d)];
      oi += pos[static_cast<size_t>(d)] * os[static_cast<size_t>(d)];
    }
    const int64_t raw = x.get_as_int64(xi);
    // Cast's wrap, then the Add in int32 (wrapping, as ONNX Runtime's), then Gather's checks.
    const int64_t idx = static_cast<int32_t>(static_cast<uint32_t>(to_int32 ? static_cast<int32_t>(raw) : raw) + static_cast<uint32_t>(off[oi]));
    int64_t k = idx < 0 ? idx + size : idx;
    if (k < 0 || k >= size) c.fail("index {} is out of range for dimension {}", idx, size);
    std::memcpy(y.raw() + static_cast<size_t>(i) * es, table.raw() + static_cast<size_t>(k) * es, es);
    for (int d = y.rank() - 1; d >= 0; --d) {
      if (++pos[static_cast<size_t>(d)] < y.dim(d)) break;
      pos[static_cast<size_t>(d)] = 0;
    }
  }
}

void op_table_lookup(KernelContext& c) {
  const Tensor &x = c.in(0), &table = c.in(1);
  if (table.rank() != 1) c.fail("TableLookup takes a 1-D table");
  if (c.has(2)) {
    const Tensor& offsets = c.in(2);
    if (offsets.dtype() != DType::Int32) c.fail("TableLookup offsets must be int32");
    Tensor y = Tensor::uninitialized(table.dtype(), broadcast_shapes(c, x.shape(), offsets.shape()));
    table_lookup_offsets(c, x, table, offsets, y);
    c.outputs[0] = std::move(y);
    return;
  }
  Tensor y = Tensor::uninitialized(table.dtype(), x.shape());
  switch (element_size(c, table.dtype())) {
    case 1: table_lookup_typed<uint8_t>(c, x, table, y); break;
    case 2: table_lookup_typed<uint16_t>(c, x, table, y); break;
    case 4: table_lookup_typed<uint32_t>(c, x, table, y); break;
    case 8: table_lookup_typed<uint64_t>(c, x, table, y); break;
    default: c.fail("TableLookup: unsupported table type {}", dtype_name(table.dtype()));
  }
  c.outputs[0] = std::move(y);
}

bool gather_table(const KernelContext& c, const Tensor& x, const Tensor& indices, Tensor& y) {
  switch (x.dtype()) {
    case DType::UInt8: return gather_table_values<uint8_t>(c, x, indices, y);
    case DType::Int8: return gather_table_values<int8_t>(c, x, indices, y);
    case DType::Int32: return gather_table_values<int32_t>(c, x, indices, y);
    case DType::Int64: return gather_table_values<int64_t>(c, x, indices, y);
    case DType::Float32: return gather_table_values<float>(c, x, indices, y);
    default: return false;
  }
}

void op_gather(KernelContext& c) {
  const Tensor &x = c.in(0), &indices = c.in(1);
  const int axis = normalize_axis(c, c.node.get_int("axis", 0), x.rank());
  Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  Tensor y = Tensor::uninitialized(x.dtype(), out_shape);
  const size_t es = element_size(c, x.dtype());
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const int64_t dim = x.dim(axis), n_idx = indices.numel();
  if (outer == 1 && inner == 1 && gather_table(c, x, indices, y)) {
    c.outputs[0] = std::move(y);
    return;
  }
  const std::vector<int64_t> idx = indices.to_int64_vector();
  const size_t block = static_cast<size_t>(inner) * es;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j) {
      int64_t k = idx[static_cast<size_t>(j)];
      if (k < 0) k += dim;
      if (k < 0 || k >= dim) c.fail("index {} is out of range for dimension {}", idx[static_cast<size_t>(j)], dim);
      std::memcpy(y.raw() + (o * n_idx + j) * static_cast<int64_t>(block), x.raw() + (o * dim + k) * static_cast<int64_t>(block), block);
    }
  c.outputs[0] = std::move(y);
}

void op_gather_elements(KernelContext& c) {
  const Tensor &x = c.in(0), &indices = c.in(1);
  const int axis = normalize_axis(c, c.node.get_int("axis", 0), x.rank());
  Tensor y(x.dtype(), indices.shape());
  const size_t es = element_size(c, x.dtype());
  const int rank = x.rank();
  std::vector<int64_t> pos(static_cast<size_t>(rank), 0);
  for (int64_t i = 0; i < indices.numel(); ++i) {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d) {
      int64_t p = pos[static_cast<size_t>(d)];
      if (d == axis) {
        p = indices.get_as_int64(i);
        if (p < 0) p += x.dim(d);
        if (p < 0 || p >= x.dim(d)) c.fail("index out of range");
      }
      off = off * x.dim(d) + p;
    }
    std::memcpy(y.raw() + i * static_cast<int64_t>(es), x.raw() + off * static_cast<int64_t>(es), es);
    for (int d = rank - 1; d >= 0; --d) {
      if (++pos[static_cast<size_t>(d)] < indices.dim(d)) break;
      pos[static_cast<size_t>(d)] = 0;
    }
  }
  c.outputs[0] = std::move(y);
}

enum class Reduce { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };

// Which axes to reduce, per the opset-dependent attribute/input rules.
std::vector<bool> reduced_axes(const KernelContext& c, int rank, bool axes_is_input) {
  std::vector<int64_t> axes = axes_is_input ? optional_ints(c, 1) : c.node.get_ints("axes");
  std::vector<bool> reduce(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    if (c.node.get_int("noop_with_empty_axes", 0)) return reduce;
    reduce.assign(static_cast<size_t>(rank), true);
    return reduce;
  }
  for (int64_t a : axes) reduce[static_cast<size_t>(normalize_axis(c, a, rank))] = true;
  return reduce;
}

// Reduces src viewed as [outer, reduced, inner] along `reduced` into dst [outer, inner].
// Integer sums wrap (accumulated unsigned); float sums run in index order.
template <Reduce kKind, typename T>
void reduce_block(const T* src, T* dst, int64_t outer, int64_t reduced, int64_t inner) {
  using Acc = typename std::conditional_t<std::is_integral_v<T> && kKind == Reduce::Sum, std::make_unsigned<T>,
                                          std::type_identity<T>>::type;
  auto combine = [](Acc a, T v) -> Acc {
    if constexpr (kKind == Reduce::Max) return std::max<Acc>(a, v);
    else if constexpr (kKind == Reduce::Min) return std::min<Acc>(a, v);
    else return static_cast<Acc>(a + static_cast<Acc>(v));
  };
  parallel_for(outer * inner, reduced, [&](int64_t b, int64_t e) {
    for (int64_t oi = b; oi < e;) {
      const int64_t o = oi / inner, i0 = oi % inner, i1 = std::min(inner, i0 + (e - oi));
      const T* in = src + o * reduced * inner;
      T* out = dst + o * inner;
      if (inner == 1) {
        Acc a = static_cast<Acc>(in[0]);
        for (int64_t r = 1; r < reduced; ++r) a = combine(a, in[r]);
        out[0] = static_cast<T>(a);
      } else {
        std::vector<Acc> a(in + i0, in + i1);
        for (int64_t r = 1; r < reduced; ++r)
          for (int64_t i = i0; i < i1; ++i) a[static_cast<size_t>(i - i0)] = combine(a[static_cast<size_t>(i - i0)], in[r * inner + i]);
        for (int64_t i = i0; i < i1; ++i) out[i] = static_cast<T>(a[static_cast<size_t>(i - i0)]);
      }
      if constexpr (kKind == Reduce::Mean)
        for (int64_t i = i0; i < i1; ++i) out[i] /= static_cast<T>(reduced);
      oi += i1 - i0;
    }
  });
}

template <Reduce kKind>
void op_reduce(KernelContext& c) {
  const Tensor& x = c.in(0);
  // ReduceSum takes axes as an input from opset 13, the others from opset 18.
  const bool axes_is_input = c.opset >= (kKind == Reduce::Sum ? 13 : 18);
  const int rank = x.rank();
  const std::vector<bool> reduce = reduced_axes(c, rank, axes_is_input);
  const bool keepdims = c.node.get_int("keepdims", 1) != 0;
  Shape kept(x.shape()), out_shape;
  for (int d = 0; d < rank; ++d) {
    if (reduce[static_cast<size_t>(d)]) kept[static_cast<size_t>(d)] = 1;
    if (!reduce[static_cast<size_t>(d)] || keepdims) out_shape.push_back(kept[static_cast<size_t>(d)]);
  }
  // Fast path: Sum/Max/Min (and float Mean) over one contiguous block of axes, i.e. x viewed as
  // [outer, reduced, inner], in the input's own type: float in the same order as the general
  // loop, integers exact and wrapping as ONNX Runtime's integer reductions are.
  int first = -1, last = -1;
  for (int d = 0; d < rank; ++d)
    if (reduce[static_cast<size_t>(d)]) (first < 0 ? first : last) = d, last = d;
  bool contiguous = first >= 0;
  for (int d = first; contiguous && d <= last; ++d) contiguous = reduce[static_cast<size_t>(d)];
  constexpr bool kSimple = kKind == Reduce::Sum || kKind == Reduce::Mean || kKind == Reduce::Max || kKind == Reduce::Min;
  const bool typed = x.dtype() == DType::Float32 ||
                     (kKind != Reduce::Mean && (x.dtype() == DType::Int32 || x.dtype() == DType::Int64 || x.dtype() == DType::UInt8));
  if (kSimple && contiguous && typed && x.numel() > 0) {
    int64_t outer = 1, reduced = 1, inner = 1;
    for (int d = 0; d < rank; ++d) (d < first ? outer : d <= last ? reduced : inner) *= x.dim(d);
    Tensor y = Tensor::uninitialized(x.dtype(), out_shape);
    auto run = [&](auto tag) { reduce_block<kKind>(x.data<decltype(tag)>(), y.data<decltype(tag)>(), outer, reduced, inner); };
    if (x.dtype() == DType::Float32) run(float{});
    else if (x.dtype() == DType::Int32) run(int32_t{});
    else if (x.dtype() == DType::Int64) run(int64_t{});
    else run(uint8_t{});
    c.outputs[0] = std::move(y);
    return;
  }
  dispatch_numeric(c, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor y(x.dtype(), out_shape);
    const int64_t n_out = y.numel();
    std::vector<double> acc(static_cast<size_t>(n_out));
    std::vector<int64_t> count(static_cast<size_t>(n_out), 0);
    const double init = kKind == Reduce::Max ? -std::numeric_limits<double>::infinity()
                       : kKind == Reduce::Min ? std::numeric_limits<double>::infinity()
                       : kKind == Reduce::Prod ? 1.0 : 0.0;
    std::fill(acc.begin(), acc.end(), init);
    const auto strides = broadcast_strides(kept, x.shape());  // x index -> kept index
    std::vector<int64_t> pos(static_cast<size_t>(rank), 0);
    const T* src = x.data<T>();
    double max_for_lse = -std::numeric_limits<double>::infinity();
    if constexpr (kKind == Reduce::LogSumExp)
      for (int64_t i = 0; i < x.numel(); ++i) max_for_lse = std::max(max_for_lse, static_cast<double>(src[i]));
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t o = 0;
      for (int d = 0; d < rank; ++d) o += pos[static_cast<size_t>(d)] * strides[static_cast<size_t>(d)];
      const double v = static_cast<double>(src[i]);
      double& a = acc[static_cast<size_t>(o)];
      switch (kKind) {
        case Reduce::Sum:
        case Reduce::Mean:
        case Reduce::LogSum: a += v; break;
        case Reduce::Max: a = std::max(a, v); break;
        case Reduce::Min: a = std::min(a, v); break;
        case Reduce::Prod: a *= v; break;
        case Reduce::L1: a += std::fabs(v); break;
        case Reduce::L2:
        case Reduce::SumSquare: a += v * v; break;
        case Reduce::LogSumExp: a += std::exp(v - max_for_lse); break;
      }
      ++count[static_cast<size_t>(o)];
      for (int d = rank - 1; d >= 0; --d) {
        if (++pos[static_cast<size_t>(d)] < x.dim(d)) break;
        pos[static_cast<size_t>(d)] = 0;
      }
    }
    for (int64_t o = 0; o < n_out; ++o) {
      double v = acc[static_cast<size_t>(o)];
      if (kKind == Reduce::Mean) v /= static_cast<double>(std::max<int64_t>(count[static_cast<size_t>(o)], 1));
      if (kKind == Reduce::L2) v = std::sqrt(v);
      if (kKind == Reduce::LogSum) v = std::log(v);
      if (kKind == Reduce::LogSumExp) v = std::log(v) + max_for_lse;
      if constexpr (std::is_integral_v<T>) {
        if (std::isinf(v)) v = v > 0 ? static_cast<double>(std::numeric_limits<T>::max()) : static_cast<double>(std::numeric_limits<T>::lowest());
      }
      y.data<T>()[o] = static_cast<T>(v);
    }
    c.outputs[0] = std::move(y);
  });
}

template <bool kMax>
void op_arg(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int axis = normalize_axis(c, c.node.get_int("axis", 0), x.rank());
  const bool keepdims = c.node.get_int("keepdims", 1) != 0, last = c.node.get_int("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  Shape out_shape = x.shape();
  if (keepdims) out_shape[static_cast<size_t>(axis)] = 1;
  else out_shape.erase(out_shape.begin() + axis);
  Tensor y(DType::Int64, out_shape);
  const int64_t dim = x.dim(axis);
  dispatch_numeric(c, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < dim; ++j) {
          const T v = src[(o * dim + j) * inner + i], b = src[(o * dim + best) * inner + i];
          const bool better = kMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
          if (better) best = j;
        }
        y.data<int64_t>()[o * inner + i] = best;
      }
  });
  c.outputs[0] = std::move(y);
}

}  // namespace

void register_gather_ops(Registry& r) {
  r["Gather"] = op_gather;
  r["ai.dyad.exec.TableLookup"] = op_table_lookup;
  r["GatherElements"] = op_gather_elements;
}

void register_reduce_ops(Registry& r) {
  r["ReduceSum"] = op_reduce<Reduce::Sum>;
  r["ReduceMean"] = op_reduce<Reduce::Mean>;
  r["ReduceMax"] = op_reduce<Reduce::Max>;
  r["ReduceMin"] = op_reduce<Reduce::Min>;
  r["ReduceProd"] = op_reduce<Reduce::Prod>;
  r["ReduceL1"] = op_reduce<Reduce::L1>;
  r["ReduceL2"] = op_reduce<Reduce::L2>;
  r["ReduceSumSquare"] = op_reduce<Reduce::SumSquare>;
  r["ReduceLogSum"] = op_reduce<Reduce::LogSum>;
  r["ReduceLogSumExp"] = op_reduce<Reduce::LogSumExp>;
  r["ArgMax"] = op_arg<true>;
  r["ArgMin"] = op_arg<false>;
}

}  // namespace dyad::ops
