// Native kernels for the ai.dyad model-local functions the integer emitter writes
// (lib/quant/integer_functions.h). The executor runs these instead of the functions' bodies of
// standard ONNX ops when a model's function is the canonical definition, node for node; each
// kernel computes the very integers the body does, in one pass instead of ten int64 tensors.
// tests/dyad_functions_test.cc checks every kernel against the inlined body on random inputs.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "integer_kernels/qadd.h"
#include "lib/exec/ops/broadcast.h"
#include "lib/exec/ops/registry_fwd.h"
#include "lib/quant/integer_functions.h"

namespace dyad::ops {

namespace {

// Reads an integer tensor broadcast (numpy rules) to `shape`, element by flat output index.
class Broadcast {
 public:
  Broadcast(const Tensor& t, const Shape& shape) : t_(t) {
    if (t.numel() == 1) {
      scalar_ = true;
      value_ = t.get_as_int64(0);
      return;
    }
    if (t.shape() == shape) {
      same_ = true;
      return;
    }
    strides_ = broadcast_strides(t.shape(), shape);
    shape_ = shape;
  }
  int64_t at(int64_t i) const {
    if (scalar_) return value_;
    if (same_) return t_.get_as_int64(i);
    int64_t offset = 0;
    for (int d = static_cast<int>(shape_.size()) - 1; d >= 0; --d) {
      const int64_t extent = shape_[static_cast<size_t>(d)];
      offset += (i % extent) * strides_[static_cast<size_t>(d)];
      i /= extent;
    }
    return t_.get_as_int64(offset);
  }

 private:
  const Tensor& t_;
  bool scalar_ = false, same_ = false;
  int64_t value_ = 0;
  std::vector<int64_t> strides_;
  Shape shape_;
};

// Wrapping int64 arithmetic, as ONNX Runtime's int64 Mul and Add (and the bodies) compute it.
inline int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
inline int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
// t - Mod(t, d) with fmod = 0 (the remainder takes the divisor's sign), then an exact Div.
inline int64_t floor_div(int64_t t, int64_t d) {
  int64_t r = t % d;
  if (r != 0 && ((r < 0) != (d < 0))) r += d;
  return (t - r) / d;
}
// Add ZP, then Less/Where and Greater/Where, then Cast to Out (uint8, or int32 for an index).
template <typename Out = uint8_t>
inline Out clamp_to(int64_t r, int64_t zp, int64_t qmin, int64_t qmax) {
  int64_t z = wrap_add(r, zp);
  if (z < qmin) z = qmin;
  if (z > qmax) z = qmax;
  return static_cast<Out>(z);
}
inline uint8_t clamp_to_uint8(int64_t r, int64_t zp, int64_t qmin, int64_t qmax) { return clamp_to<uint8_t>(r, zp, qmin, qmax); }

Shape broadcast_of(const KernelContext& c, std::initializer_list<size_t> inputs) {
  Shape s;
  for (size_t i : inputs) s = broadcast_shapes(c, s, c.in(i).shape());
  return s;
}

// The common layout of a requantization: every parameter a scalar or one value per index of a
// single axis (a conv's channels, a matmul's columns), and the accumulator of the output's shape.
// Returns that axis's (outer, channels, inner) split, or false.
bool channel_split(const KernelContext& c, const Shape& shape, int64_t& outer, int64_t& channels, int64_t& inner) {
  if (c.in(0).shape() != shape || (c.in(0).dtype() != DType::Int32 && c.in(0).dtype() != DType::Int64)) return false;
  int axis = -1;
  channels = 1;
  for (size_t i = 1; i < 7; ++i) {
    const Tensor& t = c.in(i);
    if (t.dtype() != DType::Int64) return false;
    if (t.numel() == 1) continue;
    const int offset = static_cast<int>(shape.size()) - t.rank();
    for (int d = 0; d < t.rank(); ++d) {
      if (t.dim(d) == 1) continue;
      const int a = offset + d;
      if ((axis >= 0 && axis != a) || t.dim(d) != shape[static_cast<size_t>(a)]) return false;
      axis = a;
      channels = t.dim(d);
    }
  }
  outer = inner = 1;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d < axis) outer *= shape[static_cast<size_t>(d)];
    else if (d > axis) inner *= shape[static_cast<size_t>(d)];  // all of it when every parameter is a scalar
  }
  return true;
}

// One channel's parameters, with D = 2^shift (shift < 0: D is not a power of two).
struct ChannelParams {
  int64_t m, d, h, zp, lo, hi;
  int shift;
};

template <typename Out, typename Acc>
inline Out requant_one(Acc a, const ChannelParams& p) {
  const int64_t t = wrap_add(wrap_mul(a, p.m), p.h);
  return clamp_to<Out>(p.shift >= 0 ? t >> p.shift : floor_div(t, p.d), p.zp, p.lo, p.hi);
}

template <typename Acc, typename Out>
void requant_by_channel(const KernelContext& c, const Acc* acc, int64_t outer, int64_t channels, int64_t inner, Out* out) {
  auto param = [&](size_t i, int64_t ch) { return c.in(i).data<int64_t>()[c.in(i).numel() == 1 ? 0 : ch]; };
  std::vector<ChannelParams> params(static_cast<size_t>(channels));
  for (int64_t ch = 0; ch < channels; ++ch) {
    ChannelParams& p = params[static_cast<size_t>(ch)];
    p = {param(1, ch), param(2, ch), param(3, ch), param(4, ch), param(5, ch), param(6, ch), -1};
    if (p.d > 0 && (p.d & (p.d - 1)) == 0) p.shift = __builtin_ctzll(static_cast<unsigned long long>(p.d));
  }
  if (inner == 1) {  // channels last (a matmul's columns): one row of channels at a time
    parallel_for(outer, channels * 4, [&](int64_t s, int64_t e) {
      for (int64_t o = s; o < e; ++o)
        for (int64_t ch = 0; ch < channels; ++ch) out[o * channels + ch] = requant_one<Out>(acc[o * channels + ch], params[static_cast<size_t>(ch)]);
    });
    return;
  }
  // Planes of `inner` values sharing one channel's parameters, cut into blocks so that a single
  // large plane still spreads over the threads.
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(outer * channels * blocks, kBlock * 4, [&](int64_t s, int64_t e) {
    for (int64_t item = s; item < e; ++item) {
      const int64_t oc = item / blocks, begin = (item % blocks) * kBlock, end = std::min(inner, begin + kBlock);
      const ChannelParams p = params[static_cast<size_t>(oc % channels)];
      const Acc* a = acc + oc * inner;
      Out* o = out + oc * inner;
      if (p.shift >= 0) {  // D = 2^s: the floor division is an arithmetic shift
        for (int64_t i = begin; i < end; ++i) o[i] = clamp_to<Out>(wrap_add(wrap_mul(a[i], p.m), p.h) >> p.shift, p.zp, p.lo, p.hi);
      } else {
        for (int64_t i = begin; i < end; ++i) o[i] = clamp_to<Out>(floor_div(wrap_add(wrap_mul(a[i], p.m), p.h), p.d), p.zp, p.lo, p.hi);
      }
    }
  });
}

// DyadicRequant(acc, M, D, H, ZP, QMIN, QMAX) with Out = uint8, DyadicRequantIndex with int32.
template <typename Out>
void op_dyadic_requant(KernelContext& c) {
  const Tensor& acc = c.in(0);
  const Shape shape = broadcast_of(c, {0, 1, 2, 3, 4, 5, 6});
  Tensor y = Tensor::uninitialized(std::is_same_v<Out, uint8_t> ? DType::UInt8 : DType::Int32, shape);
  Out* out = y.data<Out>();
  int64_t outer = 0, channels = 0, inner = 0;
  if (channel_split(c, shape, outer, channels, inner)) {
    if (acc.dtype() == DType::Int32) requant_by_channel(c, acc.data<int32_t>(), outer, channels, inner, out);
    else requant_by_channel(c, acc.data<int64_t>(), outer, channels, inner, out);
    c.outputs[0] = std::move(y);
    return;
  }
  const Broadcast a(acc, shape), m(c.in(1), shape), d(c.in(2), shape), h(c.in(3), shape), zp(c.in(4), shape),
      lo(c.in(5), shape), hi(c.in(6), shape);
  parallel_for(y.numel(), 8, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i)
      out[i] = clamp_to<Out>(floor_div(wrap_add(wrap_mul(a.at(i), m.at(i)), h.at(i)), d.at(i)), zp.at(i), lo.at(i), hi.at(i));
  });
  c.outputs[0] = std::move(y);
}

// DyadicAdd(a, b, ZA, MA, ZB, MB, D, H, ZP, QMIN, QMAX)
void op_dyadic_add(KernelContext& c) {
  const Shape shape = broadcast_of(c, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  bool scalars = c.in(0).dtype() == DType::UInt8 && c.in(1).dtype() == DType::UInt8 && c.in(0).shape() == shape &&
                 c.in(1).shape() == shape;
  for (size_t i = 2; i < 11; ++i) scalars = scalars && c.in(i).numel() == 1;
  if (scalars) {  // the residual Add: same shapes, scalar parameters
    int64_t p[11];
    for (size_t i = 2; i < 11; ++i) p[i] = c.in(i).get_as_int64(0);
    const uint8_t *a = c.in(0).data<uint8_t>(), *b = c.in(1).data<uint8_t>();
    Tensor y = Tensor::uninitialized(DType::UInt8, shape);
    uint8_t* out = y.data<uint8_t>();
    const bool power_of_two = p[6] > 0 && (p[6] & (p[6] - 1)) == 0;
    const int shift = power_of_two ? __builtin_ctzll(static_cast<unsigned long long>(p[6])) : 0;
    if (power_of_two) {  // the usual D = 2^s: an arithmetic shift
      const QAddParams params{p[2], p[3], p[4], p[5], p[7], shift, p[8], p[9], p[10]};
      const AddIsa isa = add_isa_best();
      parallel_for(y.numel(), 2, [&](int64_t s, int64_t e) { u8_dyadic_add(isa, params, a + s, b + s, e - s, out + s); });
      c.outputs[0] = std::move(y);
      return;
    }
    parallel_for(y.numel(), 8, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        const int64_t sum = wrap_add(wrap_mul(a[i] - p[2], p[3]), wrap_mul(b[i] - p[4], p[5]));
        out[i] = clamp_to_uint8(floor_div(wrap_add(sum, p[7]), p[6]), p[8], p[9], p[10]);
      }
    });
    c.outputs[0] = std::move(y);
    return;
  }
  std::vector<Broadcast> in;
  in.reserve(11);
  for (size_t i = 0; i < 11; ++i) in.emplace_back(c.in(i), shape);
  Tensor y = Tensor::uninitialized(DType::UInt8, shape);
  uint8_t* out = y.data<uint8_t>();
  parallel_for(y.numel(), 8, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const int64_t p = wrap_add(wrap_mul(in[0].at(i) - in[2].at(i), in[3].at(i)), wrap_mul(in[1].at(i) - in[4].at(i), in[5].at(i)));
      out[i] = clamp_to_uint8(floor_div(wrap_add(p, in[7].at(i)), in[6].at(i)), in[8].at(i), in[9].at(i), in[10].at(i));
    }
  });
  c.outputs[0] = std::move(y);
}

// The body's Newton iteration, step for step (Div truncates; every value here is positive).
int64_t integer_sqrt(int64_t n) {
  int64_t x = int64_t{1} << 31;
  for (int i = 0; i < kIntegerSqrtSteps; ++i) x = (x + n / x) / 2;
  return wrap_mul(x, x) > n ? x - 1 : x;
}

void op_integer_sqrt(KernelContext& c) {
  const Tensor& n = c.in(0);
  if (n.dtype() != DType::Int64) c.fail("IntegerSqrt takes int64");
  Tensor y = Tensor::uninitialized(DType::Int64, n.shape());
  const int64_t* in = n.data<int64_t>();
  int64_t* out = y.data<int64_t>();
  for (int64_t i = 0; i < n.numel(); ++i) {
    if (in[i] <= 0) c.fail("IntegerSqrt of {} (the iteration divides by it)", in[i]);
    out[i] = integer_sqrt(in[i]);
  }
  c.outputs[0] = std::move(y);
}

// IntegerLayerNorm(x, ZX, N, E, K2, MG, BB, P, HP, ZP, QMIN, QMAX) over the last axis.
void op_integer_layer_norm(KernelContext& c) {
  const Tensor& x = c.in(0);
  if (x.dtype() != DType::UInt8 || x.rank() == 0) c.fail("IntegerLayerNorm takes uint8 input with a last axis");
  const int64_t features = x.dim(x.rank() - 1), rows = features ? x.numel() / features : 0;
  auto scalar = [&](size_t i) { return c.in(i).get_as_int64(0); };
  const int64_t zx = scalar(1), count = scalar(2), eps = scalar(3), k2 = scalar(4), p = scalar(7), hp = scalar(8), zp = scalar(9),
                qmin = scalar(10), qmax = scalar(11);
  for (size_t i : {1, 2, 3, 4, 7, 8, 9, 10, 11})
    if (c.in(i).numel() != 1) c.fail("IntegerLayerNorm input {} must be a scalar", i);
  const Tensor &mg = c.in(5), &bb = c.in(6);
  if (mg.numel() != features || bb.numel() != features) c.fail("IntegerLayerNorm MG and BB must have {} entries", features);
  const int64_t* mgp = mg.data<int64_t>();
  const int64_t* bbp = bb.data<int64_t>();
  Tensor y = Tensor::uninitialized(DType::UInt8, x.shape());
  const uint8_t* in = x.data<uint8_t>();
  uint8_t* out = y.data<uint8_t>();
  parallel_for(rows, features * 8, [&](int64_t s, int64_t e) {
    std::vector<int64_t> u(static_cast<size_t>(features));
    for (int64_t r = s; r < e; ++r) {
      const uint8_t* row = in + r * features;
      int64_t sum = 0;
      for (int64_t j = 0; j < features; ++j) sum += static_cast<int64_t>(row[j]) - zx;
      int64_t squares = 0;
      for (int64_t j = 0; j < features; ++j) {
        u[static_cast<size_t>(j)] = wrap_mul(static_cast<int64_t>(row[j]) - zx, count) - sum;
        squares = wrap_add(squares, wrap_mul(u[static_cast<size_t>(j)], u[static_cast<size_t>(j)]));
      }
      const int64_t w = wrap_mul(wrap_add(squares, eps), k2);
      if (w <= 0) c.fail("IntegerLayerNorm: non-positive variance term {}", w);
      const int64_t root = integer_sqrt(w), den = wrap_mul(root, p), half = wrap_mul(hp, root);
      for (int64_t j = 0; j < features; ++j) {
        const int64_t t = wrap_add(wrap_add(wrap_mul(u[static_cast<size_t>(j)], mgp[j]), wrap_mul(bbp[j], root)), half);
        out[r * features + j] = clamp_to_uint8(floor_div(t, den), zp, qmin, qmax);
      }
    }
  });
  c.outputs[0] = std::move(y);
}

}  // namespace

void register_dyad_function_ops(Registry& r) {
  r[std::string(kDyadDomain) + ".DyadicRequant"] = op_dyadic_requant<uint8_t>;
  r[std::string(kDyadDomain) + ".DyadicRequantIndex"] = op_dyadic_requant<int32_t>;
  r[std::string(kDyadDomain) + ".DyadicAdd"] = op_dyadic_add;
  r[std::string(kDyadDomain) + ".IntegerSqrt"] = op_integer_sqrt;
  r[std::string(kDyadDomain) + ".IntegerLayerNorm"] = op_integer_layer_norm;
}

}  // namespace dyad::ops
