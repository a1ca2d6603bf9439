// Elementwise ops of two or more inputs with broadcasting: arithmetic, comparison, logic,
// variadic Max/Min/Sum/Mean, PRelu, Where and Clip.
#include <cmath>
#include <type_traits>

#include "lib/exec/ops/broadcast.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

// Integer arithmetic wraps like ONNX Runtime's (two's complement) without signed-overflow UB.
template <typename T>
T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) + static_cast<std::make_unsigned_t<T>>(b));
  else return a + b;
}
template <typename T>
T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) - static_cast<std::make_unsigned_t<T>>(b));
  else return a - b;
}
template <typename T>
T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}
template <typename T>
T safe_div(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return 0;  // undefined in ONNX; avoid the C++ trap
    if constexpr (std::is_signed_v<T>)
      if (b == -1) return wrap_sub(T(0), a);  // INT_MIN / -1 wraps
    return static_cast<T>(a / b);
  } else {
    return a / b;
  }
}

// Same-type binary op over numeric types (output type = input type).
template <typename Op>
void arithmetic(KernelContext& c, Op op) {
  const Tensor &a = c.in(0), &b = c.in(1);
  if (a.dtype() != b.dtype()) c.fail("input types differ: {} and {}", dtype_name(a.dtype()), dtype_name(b.dtype()));
  Tensor out = Tensor::uninitialized(a.dtype(), broadcast_shapes(c, a.shape(), b.shape()));
  dispatch_numeric(c, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_binary<T, T, T>(a, b, out, [&](T x, T y) { return static_cast<T>(op(x, y)); });
  });
  c.outputs[0] = std::move(out);
}

void op_add(KernelContext& c) { arithmetic(c, [](auto x, auto y) { return wrap_add(x, y); }); }
void op_sub(KernelContext& c) { arithmetic(c, [](auto x, auto y) { return wrap_sub(x, y); }); }
void op_mul(KernelContext& c) { arithmetic(c, [](auto x, auto y) { return wrap_mul(x, y); }); }
void op_div(KernelContext& c) { arithmetic(c, [](auto x, auto y) { return safe_div(x, y); }); }

void op_mod(KernelContext& c) {
  const bool fmod = c.node.get_int("fmod", 0) != 0;
  arithmetic(c, [fmod](auto x, auto y) {
    using T = decltype(x);
    if constexpr (std::is_floating_point_v<T>) {
      T r = std::fmod(x, y);
      if (!fmod && r != 0 && ((r < 0) != (y < 0))) r += y;
      return r;
    } else {
      if (y == 0) return T(0);
      if constexpr (std::is_signed_v<T>) {
        if (y == -1) return T(0);
        T r = static_cast<T>(x % y);  // C++: sign of the dividend (fmod=1 semantics)
        if (!fmod && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
        return r;
      } else {
        return static_cast<T>(x % y);
      }
    }
  });
}

void op_bitshift(KernelContext& c) {
  const bool left = c.node.get_string("direction", "") == "LEFT";
  arithmetic(c, [left](auto x, auto y) {
    using T = decltype(x);
    if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {
      if (y >= sizeof(T) * 8) return T(0);
      return left ? static_cast<T>(x << y) : static_cast<T>(x >> y);
    } else {
      throw Error("BitShift is defined for unsigned integer types only");
      return x;
    }
  });
}

void op_pow(KernelContext& c) {
  const Tensor &a = c.in(0), &b = c.in(1);
  Tensor out = Tensor::uninitialized(a.dtype(), broadcast_shapes(c, a.shape(), b.shape()));
  dispatch_numeric(c, a.dtype(), [&](auto ta) {
    using TA = decltype(ta);
    dispatch_numeric(c, b.dtype(), [&](auto tb) {
      using TB = decltype(tb);
      broadcast_binary<TA, TB, TA>(a, b, out, [](TA x, TB y) {
        if constexpr (std::is_same_v<TA, float> && std::is_same_v<TB, float>) return std::pow(x, y);
        else return static_cast<TA>(std::pow(static_cast<double>(x), static_cast<double>(y)));
      });
    });
  });
  c.outputs[0] = std::move(out);
}

template <typename Op>
void comparison(KernelContext& c, Op op) {
  const Tensor &a = c.in(0), &b = c.in(1);
  if (a.dtype() != b.dtype()) c.fail("input types differ: {} and {}", dtype_name(a.dtype()), dtype_name(b.dtype()));
  Tensor out = Tensor::uninitialized(DType::Bool, broadcast_shapes(c, a.shape(), b.shape()));
  dispatch_all(c, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_binary<T, T, uint8_t>(a, b, out, [&](T x, T y) { return static_cast<uint8_t>(op(x, y)); });
  });
  c.outputs[0] = std::move(out);
}

void op_equal(KernelContext& c) { comparison(c, [](auto x, auto y) { return x == y; }); }
void op_less(KernelContext& c) { comparison(c, [](auto x, auto y) { return x < y; }); }
void op_greater(KernelContext& c) { comparison(c, [](auto x, auto y) { return x > y; }); }
void op_less_equal(KernelContext& c) { comparison(c, [](auto x, auto y) { return x <= y; }); }
void op_greater_equal(KernelContext& c) { comparison(c, [](auto x, auto y) { return x >= y; }); }

template <typename Op>
void logical(KernelContext& c, Op op) {
  const Tensor &a = c.in(0), &b = c.in(1);
  if (a.dtype() != DType::Bool || b.dtype() != DType::Bool) c.fail("expects bool inputs");
  Tensor out = Tensor::uninitialized(DType::Bool, broadcast_shapes(c, a.shape(), b.shape()));
  broadcast_binary<uint8_t, uint8_t, uint8_t>(a, b, out, [&](uint8_t x, uint8_t y) { return static_cast<uint8_t>(op(x != 0, y != 0)); });
  c.outputs[0] = std::move(out);
}

void op_and(KernelContext& c) { logical(c, [](bool x, bool y) { return x && y; }); }
void op_or(KernelContext& c) { logical(c, [](bool x, bool y) { return x || y; }); }
void op_xor(KernelContext& c) { logical(c, [](bool x, bool y) { return x != y; }); }

// Folds all inputs pairwise with broadcasting; `finish` post-processes (Mean divides).
template <typename Op>
void variadic(KernelContext& c, Op op, bool mean = false) {
  Tensor acc = c.in(0);
  for (size_t i = 1; i < c.num_inputs(); ++i) {
    const Tensor& b = c.in(i);
    Tensor out = Tensor::uninitialized(acc.dtype(), broadcast_shapes(c, acc.shape(), b.shape()));
    dispatch_numeric(c, acc.dtype(), [&](auto tag) {
      using T = decltype(tag);
      broadcast_binary<T, T, T>(acc, b, out, [&](T x, T y) { return static_cast<T>(op(x, y)); });
    });
    acc = std::move(out);
  }
  if (mean) {
    acc.make_unique_storage();
    dispatch_float(c, acc.dtype(), [&](auto tag) {
      using T = decltype(tag);
      for (int64_t i = 0; i < acc.numel(); ++i) acc.data<T>()[i] /= static_cast<T>(c.num_inputs());
    });
  }
  c.outputs[0] = std::move(acc);
}

void op_max(KernelContext& c) {
  variadic(c, [](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>)
      if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<decltype(x)>::quiet_NaN();
    return x > y ? x : y;
  });
}
void op_min(KernelContext& c) {
  variadic(c, [](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>)
      if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<decltype(x)>::quiet_NaN();
    return x < y ? x : y;
  });
}
void op_sum(KernelContext& c) { variadic(c, [](auto x, auto y) { return wrap_add(x, y); }); }
void op_mean(KernelContext& c) { variadic(c, [](auto x, auto y) { return x + y; }, true); }

void op_prelu(KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor slope = c.in(1);
  // Before opset 7 a 1-D slope of C entries applied per channel (axis 1), not numpy-style.
  if (c.opset < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1) && x.rank() > 2) {
    Shape s(static_cast<size_t>(x.rank() - 1), 1);
    s[0] = slope.dim(0);
    slope = slope.reshaped(s);
  }
  Tensor out = Tensor::uninitialized(x.dtype(), broadcast_shapes(c, x.shape(), slope.shape()));
  dispatch_numeric(c, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_binary<T, T, T>(x, slope, out, [](T v, T s) { return v < T(0) ? static_cast<T>(v * s) : v; });
  });
  c.outputs[0] = std::move(out);
}

void op_where(KernelContext& c) {
  const Tensor &cond = c.in(0), &x = c.in(1), &y = c.in(2);
  Shape shape = broadcast_shapes(c, broadcast_shapes(c, cond.shape(), x.shape()), y.shape());
  Tensor out = Tensor::uninitialized(x.dtype(), shape);
  dispatch_all(c, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_ternary<uint8_t, T, T, T>(cond, x, y, out, [](uint8_t k, T a, T b) { return k ? a : b; });
  });
  c.outputs[0] = std::move(out);
}

void op_clip(KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor out = Tensor::uninitialized(x.dtype(), x.shape());
  dispatch_numeric(c, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    if (c.opset < 11) {
      lo = static_cast<T>(c.node.get_float("min", -std::numeric_limits<float>::max()));
      hi = static_cast<T>(c.node.get_float("max", std::numeric_limits<float>::max()));
    } else {
      if (c.has(1)) lo = c.in(1).data<T>()[0];
      if (c.has(2)) hi = c.in(2).data<T>()[0];
    }
    const T* src = x.data<T>();
    T* dst = out.data<T>();
    parallel_for(x.numel(), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) dst[i] = std::min(std::max(src[i], lo), hi);
    });
  });
  c.outputs[0] = std::move(out);
}

}  // namespace

void register_binary_ops(Registry& r) {
  r["Add"] = op_add;
  r["Sub"] = op_sub;
  r["Mul"] = op_mul;
  r["Div"] = op_div;
  r["Mod"] = op_mod;
  r["BitShift"] = op_bitshift;
  r["Pow"] = op_pow;
  r["Equal"] = op_equal;
  r["Less"] = op_less;
  r["Greater"] = op_greater;
  r["LessOrEqual"] = op_less_equal;
  r["GreaterOrEqual"] = op_greater_equal;
  r["And"] = op_and;
  r["Or"] = op_or;
  r["Xor"] = op_xor;
  r["Max"] = op_max;
  r["Min"] = op_min;
  r["Sum"] = op_sum;
  r["Mean"] = op_mean;
  r["PRelu"] = op_prelu;
  r["Where"] = op_where;
  r["Clip"] = op_clip;
}

}  // namespace dyad::ops
