// Ops that move or reinterpret data without arithmetic: Reshape, Flatten, Transpose, Squeeze,
// Unsqueeze, Concat, Split, Slice, Shape, Size, Expand, Tile, Pad, Range, Constant,
// ConstantOfShape, Cast. They work on bytes, so every fixed-size element type is supported.
#include <cmath>
#include <cstring>
#include <limits>

#include "lib/exec/ops/broadcast.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

Tensor shape_tensor(const Shape& s) {
  Tensor t(DType::Int64, {static_cast<int64_t>(s.size())});
  for (size_t i = 0; i < s.size(); ++i) t.data<int64_t>()[i] = s[i];
  return t;
}

void op_reshape(KernelContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> target = c.opset < 5 ? c.node.get_ints("shape") : c.in(1).to_int64_vector();
  const bool allow_zero = c.node.get_int("allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allow_zero) {
      if (i >= x.shape().size()) c.fail("shape entry 0 at {} has no input dimension to copy", i);
      target[i] = x.dim(static_cast<int>(i));
    }
    if (target[i] == -1) {
      if (infer >= 0) c.fail("more than one -1 in the target shape");
      infer = static_cast<int>(i);
    } else if (target[i] < 0) {
      c.fail("invalid target dimension {}", target[i]);
    } else {
      known *= target[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      c.fail("cannot reshape {} to {}", shape_to_string(x.shape()), shape_to_string(target));
    target[static_cast<size_t>(infer)] = x.numel() / known;
  }
  if (shape_numel(target) != x.numel()) c.fail("cannot reshape {} to {}", shape_to_string(x.shape()), shape_to_string(target));
  c.outputs[0] = x.reshaped(target);
}

void op_flatten(KernelContext& c) {
  const Tensor& x = c.in(0);
  int64_t axis = c.node.get_int("axis", 1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis > x.rank()) c.fail("axis {} out of range", axis);
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  c.outputs[0] = x.reshaped({outer, outer ? x.numel() / outer : 0});
}

// Permutes dimensions: out[dims permuted] = in. Works on element bytes.
Tensor transpose(const KernelContext& c, const Tensor& x, const std::vector<int64_t>& perm) {
  const int rank = x.rank();
  Shape out_shape(static_cast<size_t>(rank));
  std::vector<int64_t> in_strides(static_cast<size_t>(rank)), stride_for_out(static_cast<size_t>(rank));
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_strides[static_cast<size_t>(d)] = s;
    s *= x.dim(d);
  }
  for (int d = 0; d < rank; ++d) {
    const int p = normalize_axis(c, perm[static_cast<size_t>(d)], rank);
    out_shape[static_cast<size_t>(d)] = x.dim(p);
    stride_for_out[static_cast<size_t>(d)] = in_strides[static_cast<size_t>(p)];
  }
  Tensor y = Tensor::uninitialized(x.dtype(), out_shape);
  const size_t es = element_size(c, x.dtype());
  const int64_t n = x.numel();
  if (n == 0) return y;
  const int64_t inner = rank ? out_shape.back() : 1, inner_stride = rank ? stride_for_out.back() : 1;
  auto copy_rows = [&](auto tag) {
    using E = decltype(tag);
    const E* src = reinterpret_cast<const E*>(x.raw());
    E* dst = reinterpret_cast<E*>(y.raw());
    parallel_for(n / inner, inner, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t idx = row, off = 0;
        for (int d = rank - 2; d >= 0; --d) {
          off += (idx % out_shape[static_cast<size_t>(d)]) * stride_for_out[static_cast<size_t>(d)];
          idx /= out_shape[static_cast<size_t>(d)];
        }
        E* o = dst + row * inner;
        for (int64_t j = 0; j < inner; ++j) o[j] = src[off + j * inner_stride];
      }
    });
  };
  switch (es) {
    case 1: copy_rows(uint8_t{}); break;
    case 2: copy_rows(uint16_t{}); break;
    case 4: copy_rows(uint32_t{}); break;
    default: copy_rows(uint64_t{}); break;
  }
  return y;
}

void op_transpose(KernelContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> perm = c.node.get_ints("perm");
  if (perm.empty())
    for (int d = x.rank() - 1; d >= 0; --d) perm.push_back(d);
  if (static_cast<int>(perm.size()) != x.rank()) c.fail("perm has {} entries for rank {}", perm.size(), x.rank());
  c.outputs[0] = transpose(c, x, perm);
}

void op_squeeze(KernelContext& c) {
  const Tensor& x = c.in(0);
  const std::vector<int64_t> axes = axes_from_attr_or_input(c, 1);
  std::vector<bool> drop(static_cast<size_t>(x.rank()), false);
  for (int64_t a : axes) {
    const int ax = normalize_axis(c, a, x.rank());
    if (x.dim(ax) != 1) c.fail("cannot squeeze axis {} of size {}", a, x.dim(ax));
    drop[static_cast<size_t>(ax)] = true;
  }
  Shape out;
  for (int d = 0; d < x.rank(); ++d)
    if (!(axes.empty() ? x.dim(d) == 1 : drop[static_cast<size_t>(d)])) out.push_back(x.dim(d));
  c.outputs[0] = x.reshaped(out);
}

void op_unsqueeze(KernelContext& c) {
  const Tensor& x = c.in(0);
  const std::vector<int64_t> axes = axes_from_attr_or_input(c, 1);
  const int out_rank = x.rank() + static_cast<int>(axes.size());
  std::vector<bool> is_new(static_cast<size_t>(out_rank), false);
  for (int64_t a : axes) {
    const int ax = normalize_axis(c, a, out_rank);
    if (is_new[static_cast<size_t>(ax)]) c.fail("axis {} repeated", a);
    is_new[static_cast<size_t>(ax)] = true;
  }
  Shape out;
  int src = 0;
  for (int d = 0; d < out_rank; ++d) out.push_back(is_new[static_cast<size_t>(d)] ? 1 : x.dim(src++));
  c.outputs[0] = x.reshaped(out);
}

void op_concat(KernelContext& c) {
  const Tensor& first = c.in(0);
  const int axis = normalize_axis(c, c.node.get_int("axis", 0), first.rank());
  Shape out_shape = first.shape();
  out_shape[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const Tensor& t = c.in(i);
    if (t.rank() != first.rank() || t.dtype() != first.dtype()) c.fail("input {} differs in rank or type", i);
    for (int d = 0; d < t.rank(); ++d)
      if (d != axis && t.dim(d) != first.dim(d))
        c.fail("input {} has shape {}, incompatible with {}", i, shape_to_string(t.shape()), shape_to_string(first.shape()));
    out_shape[static_cast<size_t>(axis)] += t.dim(axis);
  }
  Tensor y = Tensor::uninitialized(first.dtype(), out_shape);
  const size_t es = element_size(c, first.dtype());
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= out_shape[static_cast<size_t>(d)];
  const int64_t out_row = y.numel() / std::max<int64_t>(outer, 1);
  int64_t offset = 0;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const Tensor& t = c.in(i);
    const int64_t row = t.numel() / std::max<int64_t>(outer, 1);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(y.raw() + (o * out_row + offset) * static_cast<int64_t>(es), t.raw() + o * row * static_cast<int64_t>(es),
                  static_cast<size_t>(row) * es);
    offset += row;
  }
  c.outputs[0] = std::move(y);
}

// Copies x[..., begin:begin+len, ...] along `axis`.
Tensor slice_axis(const KernelContext& c, const Tensor& x, int axis, int64_t begin, int64_t len) {
  Shape out_shape = x.shape();
  out_shape[static_cast<size_t>(axis)] = len;
  Tensor y(x.dtype(), out_shape);
  const size_t es = element_size(c, x.dtype());
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(y.raw() + o * len * inner * static_cast<int64_t>(es),
                x.raw() + (o * x.dim(axis) + begin) * inner * static_cast<int64_t>(es), static_cast<size_t>(len * inner) * es);
  return y;
}

void op_split(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int axis = normalize_axis(c, c.node.get_int("axis", 0), x.rank());
  std::vector<int64_t> split = c.node.has("split") ? c.node.get_ints("split") : optional_ints(c, 1);
  const int64_t n_out = static_cast<int64_t>(c.outputs.size()), dim = x.dim(axis);
  if (split.empty()) {
    // Equal parts; from opset 18 the last may be smaller.
    const int64_t part = (dim + n_out - 1) / n_out;
    if (c.opset < 18 && dim % n_out != 0) c.fail("dimension {} does not split into {} equal parts", dim, n_out);
    for (int64_t i = 0; i < n_out; ++i) split.push_back(std::min(part, dim - part * i));
  }
  if (static_cast<int64_t>(split.size()) != n_out) c.fail("split has {} entries for {} outputs", split.size(), n_out);
  int64_t begin = 0;
  for (size_t i = 0; i < split.size(); ++i) {
    c.outputs[i] = slice_axis(c, x, axis, begin, split[i]);
    begin += split[i];
  }
  if (begin != dim) c.fail("split sizes add to {} but the dimension is {}", begin, dim);
}

void op_slice(KernelContext& c) {
  const Tensor& x = c.in(0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset < 10) {
    starts = c.node.get_ints("starts");
    ends = c.node.get_ints("ends");
    axes = c.node.get_ints("axes");
  } else {
    starts = c.in(1).to_int64_vector();
    ends = c.in(2).to_int64_vector();
    axes = optional_ints(c, 3);
    steps = optional_ints(c, 4);
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    c.fail("starts, ends, axes and steps differ in length");
  const int rank = x.rank();
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1);
  Shape out_shape = x.shape();
  for (size_t i = 0; i < starts.size(); ++i) {
    const int a = normalize_axis(c, axes[i], rank);
    const int64_t dim = x.dim(a), st = steps[i];
    if (st == 0) c.fail("step 0 is invalid");
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      out_shape[static_cast<size_t>(a)] = e > s ? (e - s + st - 1) / st : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      out_shape[static_cast<size_t>(a)] = s > e ? (s - e - st - 1) / (-st) : 0;
    }
    begin[static_cast<size_t>(a)] = s;
    step[static_cast<size_t>(a)] = st;
  }
  Tensor y(x.dtype(), out_shape);
  const size_t es = element_size(c, x.dtype());
  std::vector<int64_t> in_strides(static_cast<size_t>(rank));
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_strides[static_cast<size_t>(d)] = s;
    s *= x.dim(d);
  }
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d)
      off += (begin[static_cast<size_t>(d)] + idx[static_cast<size_t>(d)] * step[static_cast<size_t>(d)]) * in_strides[static_cast<size_t>(d)];
    std::memcpy(y.raw() + i * static_cast<int64_t>(es), x.raw() + off * static_cast<int64_t>(es), es);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[static_cast<size_t>(d)] < out_shape[static_cast<size_t>(d)]) break;
      idx[static_cast<size_t>(d)] = 0;
    }
  }
  c.outputs[0] = std::move(y);
}

void op_shape(KernelContext& c) {
  const Shape& s = c.in(0).shape();
  const int64_t rank = static_cast<int64_t>(s.size());
  int64_t start = c.node.get_int("start", 0), end = c.node.get_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  c.outputs[0] = shape_tensor(Shape(s.begin() + start, s.begin() + std::max(start, end)));
}

void op_size(KernelContext& c) { c.outputs[0] = Tensor::scalar<int64_t>(c.in(0).numel()); }

// Copies x broadcast to `shape` (Expand, and Tile via repeated copies).
Tensor broadcast_to(const KernelContext& c, const Tensor& x, const Shape& shape) {
  Tensor y(x.dtype(), shape);
  const size_t es = element_size(c, x.dtype());
  const auto strides = broadcast_strides(x.shape(), shape);
  const int rank = static_cast<int>(shape.size());
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d) off += idx[static_cast<size_t>(d)] * strides[static_cast<size_t>(d)];
    std::memcpy(y.raw() + i * static_cast<int64_t>(es), x.raw() + off * static_cast<int64_t>(es), es);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[static_cast<size_t>(d)] < shape[static_cast<size_t>(d)]) break;
      idx[static_cast<size_t>(d)] = 0;
    }
  }
  return y;
}

void op_expand(KernelContext& c) {
  const Tensor& x = c.in(0);
  const Shape shape = broadcast_shapes(c, x.shape(), c.in(1).to_int64_vector());
  c.outputs[0] = broadcast_to(c, x, shape);
}

void op_tile(KernelContext& c) {
  const Tensor& x = c.in(0);
  const std::vector<int64_t> repeats = c.in(1).to_int64_vector();
  if (static_cast<int>(repeats.size()) != x.rank()) c.fail("repeats has {} entries for rank {}", repeats.size(), x.rank());
  Shape out_shape = x.shape();
  for (size_t d = 0; d < repeats.size(); ++d) out_shape[d] *= repeats[d];
  Tensor y(x.dtype(), out_shape);
  const size_t es = element_size(c, x.dtype());
  const int rank = x.rank();
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d) off = off * x.dim(d) + idx[static_cast<size_t>(d)] % x.dim(d);
    std::memcpy(y.raw() + i * static_cast<int64_t>(es), x.raw() + off * static_cast<int64_t>(es), es);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[static_cast<size_t>(d)] < out_shape[static_cast<size_t>(d)]) break;
      idx[static_cast<size_t>(d)] = 0;
    }
  }
  c.outputs[0] = std::move(y);
}

void op_pad(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int rank = x.rank();
  const std::string mode = c.node.get_string("mode", "constant");
  std::vector<int64_t> pads;
  Tensor value;
  if (c.opset < 11) {
    pads = c.node.get_ints("pads");
  } else {
    pads = c.in(1).to_int64_vector();
    if (c.has(2)) value = c.in(2);
  }
  std::vector<int64_t> axes = optional_ints(c, 3);
  if (axes.empty())
    for (int d = 0; d < rank; ++d) axes.push_back(d);
  if (pads.size() != 2 * axes.size()) c.fail("pads has {} entries for {} axes", pads.size(), axes.size());
  std::vector<int64_t> pb(static_cast<size_t>(rank), 0), pe(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int a = normalize_axis(c, axes[i], rank);
    pb[static_cast<size_t>(a)] = pads[i];
    pe[static_cast<size_t>(a)] = pads[i + axes.size()];
  }
  Shape out_shape = x.shape();
  for (int d = 0; d < rank; ++d) out_shape[static_cast<size_t>(d)] += pb[static_cast<size_t>(d)] + pe[static_cast<size_t>(d)];
  Tensor y(x.dtype(), out_shape);
  const size_t es = element_size(c, x.dtype());
  std::vector<uint8_t> fill(es, 0);
  if (value.defined() && value.numel() > 0) std::memcpy(fill.data(), value.raw(), es);
  if (!value.defined() && c.opset < 11 && x.dtype() == DType::Float32) {
    const float v = c.node.get_float("value", 0.0f);
    std::memcpy(fill.data(), &v, 4);
  }
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t off = 0;
    bool outside = false;
    for (int d = 0; d < rank; ++d) {
      int64_t s = idx[static_cast<size_t>(d)] - pb[static_cast<size_t>(d)];
      const int64_t dim = x.dim(d);
      if (s < 0 || s >= dim) {
        if (mode == "constant") outside = true;
        else if (mode == "edge") s = std::clamp<int64_t>(s, 0, dim - 1);
        else if (mode == "reflect") {
          if (dim == 1) s = 0;
          else {
            const int64_t period = 2 * (dim - 1);
            s = ((s % period) + period) % period;
            if (s >= dim) s = period - s;
          }
        } else if (mode == "wrap") {
          s = ((s % dim) + dim) % dim;
        } else {
          c.fail("unsupported pad mode '{}'", mode);
        }
      }
      off = off * dim + s;
    }
    std::memcpy(y.raw() + i * static_cast<int64_t>(es), outside ? fill.data() : x.raw() + off * static_cast<int64_t>(es), es);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[static_cast<size_t>(d)] < out_shape[static_cast<size_t>(d)]) break;
      idx[static_cast<size_t>(d)] = 0;
    }
  }
  c.outputs[0] = std::move(y);
}

void op_range(KernelContext& c) {
  const Tensor& start = c.in(0);
  dispatch_numeric(c, start.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T s = start.data<T>()[0], limit = c.in(1).data<T>()[0], delta = c.in(2).data<T>()[0];
    if (delta == T(0)) c.fail("delta must not be 0");
    const double count = std::ceil((static_cast<double>(limit) - static_cast<double>(s)) / static_cast<double>(delta));
    const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
    Tensor y(start.dtype(), {n});
    for (int64_t i = 0; i < n; ++i) y.data<T>()[i] = static_cast<T>(s + static_cast<T>(i) * delta);
    c.outputs[0] = std::move(y);
  });
}

void op_constant(KernelContext& c) {
  const Node& n = c.node;
  if (n.has("value")) c.outputs[0] = n.attrs.at("value").t;
  else if (n.has("value_float")) c.outputs[0] = Tensor::scalar<float>(n.get_float("value_float", 0));
  else if (n.has("value_int")) c.outputs[0] = Tensor::scalar<int64_t>(n.get_int("value_int", 0));
  else if (n.has("value_floats")) {
    auto v = n.get_floats("value_floats");
    c.outputs[0] = Tensor::from_vector<float>(v, {static_cast<int64_t>(v.size())});
  } else if (n.has("value_ints")) {
    auto v = n.get_ints("value_ints");
    c.outputs[0] = Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(v.size())});
  } else {
    c.fail("no supported value attribute");
  }
}

void op_constant_of_shape(KernelContext& c) {
  const Shape shape = c.in(0).to_int64_vector();
  Tensor value = c.node.has("value") ? c.node.attrs.at("value").t : Tensor::scalar<float>(0.0f);
  Tensor y(value.dtype(), shape);
  const size_t es = element_size(c, value.dtype());
  for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(y.raw() + i * static_cast<int64_t>(es), value.raw(), es);
  c.outputs[0] = std::move(y);
}

// Float to integer conversion with a defined result outside the target range (saturation)
// instead of C++'s undefined behaviour; NaN becomes 0.
template <typename To>
To float_to_int(double v) {
  if (std::isnan(v)) return 0;
  if (v <= static_cast<double>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
  return static_cast<To>(v);
}

// Integer to integer between the types integer-only graphs use, with typed loads (the generic
// path below reads each element through a type switch).
template <typename From>
bool cast_integer_typed(const Tensor& x, Tensor& y) {
  const From* src = x.data<From>();
  const int64_t n = x.numel();
  auto run = [&](auto* dst) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<std::remove_pointer_t<decltype(dst)>>(src[i]);
    return true;
  };
  switch (y.dtype()) {
    case DType::UInt8: return run(y.data<uint8_t>());
    case DType::Int8: return run(y.data<int8_t>());
    case DType::Int32: return run(y.data<int32_t>());
    case DType::Int64: return run(y.data<int64_t>());
    default: return false;
  }
}

bool cast_integer_fast(const Tensor& x, Tensor& y) {
  switch (x.dtype()) {
    case DType::UInt8: return cast_integer_typed<uint8_t>(x, y);
    case DType::Int8: return cast_integer_typed<int8_t>(x, y);
    case DType::Int32: return cast_integer_typed<int32_t>(x, y);
    case DType::Int64: return cast_integer_typed<int64_t>(x, y);
    default: return false;
  }
}

Tensor cast(const KernelContext& c, const Tensor& x, DType to) {
  if (x.dtype() == to) return x;
  Tensor y(to, x.shape());
  if (cast_integer_fast(x, y)) return y;
  const int64_t n = x.numel();
  const bool from_float = dtype_is_float(x.dtype());
  auto write = [&](auto tag) {
    using T = decltype(tag);
    T* dst = y.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        dst[i] = from_float ? x.get_as_double(i) != 0.0 : x.get_as_int64(i) != 0;
      } else if constexpr (std::is_floating_point_v<T>) {
        dst[i] = static_cast<T>(from_float ? x.get_as_double(i) : static_cast<double>(x.get_as_int64(i)));
        if (!from_float && x.dtype() == DType::UInt64) dst[i] = static_cast<T>(x.data<uint64_t>()[i]);
      } else {
        // Integer to integer keeps the low bits (wraps), as ONNX Runtime does.
        dst[i] = from_float ? float_to_int<T>(x.get_as_double(i)) : static_cast<T>(x.get_as_int64(i));
      }
    }
  };
  switch (to) {
    case DType::Float16:
      for (int64_t i = 0; i < n; ++i)
        y.data<uint16_t>()[i] = float_to_half(static_cast<float>(from_float ? x.get_as_double(i) : static_cast<double>(x.get_as_int64(i))));
      break;
    case DType::Int4:
    case DType::UInt4:
      for (int64_t i = 0; i < n; ++i) int4_set(y.raw(), i, static_cast<int>(x.get_as_int64(i)));
      break;
    default: dispatch_all(c, to, write);
  }
  return y;
}

void op_cast(KernelContext& c) {
  const int64_t to = c.node.get_int("to", 0);
  if (!dtype_is_known(static_cast<int32_t>(to)) || to == static_cast<int64_t>(DType::String) ||
      to == static_cast<int64_t>(DType::BFloat16))
    c.fail("cast to type {} is not supported", to);
  c.outputs[0] = cast(c, c.in(0), static_cast<DType>(to));
}

void op_cast_like(KernelContext& c) { c.outputs[0] = cast(c, c.in(0), c.in(1).dtype()); }

}  // namespace

void register_shape_ops(Registry& r) {
  r["Reshape"] = op_reshape;
  r["Flatten"] = op_flatten;
  r["Transpose"] = op_transpose;
  r["Squeeze"] = op_squeeze;
  r["Unsqueeze"] = op_unsqueeze;
  r["Concat"] = op_concat;
  r["Split"] = op_split;
  r["Slice"] = op_slice;
  r["Shape"] = op_shape;
  r["Size"] = op_size;
  r["Expand"] = op_expand;
  r["Tile"] = op_tile;
  r["Pad"] = op_pad;
  r["Range"] = op_range;
  r["Constant"] = op_constant;
  r["ConstantOfShape"] = op_constant_of_shape;
  r["Cast"] = op_cast;
  r["CastLike"] = op_cast_like;
}

}  // namespace dyad::ops
