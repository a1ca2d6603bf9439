// Elementwise ops of one input: math functions and activations. Transcendental float ops run
// on Eigen's vectorized array functions (exp, log, erf, tanh, logistic; a few ulp from libm),
// others in plain loops the compiler vectorizes.
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#include <cmath>
#include <limits>

#include "lib/exec/ops/op_util.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

// y[i] = fn(x[i]) for float and double inputs.
template <typename Fn>
void unary_float(KernelContext& ctx, Fn fn) {
  const Tensor& x = ctx.in(0);
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
    const T* a = x.data<T>();
    T* o = y.data<T>();
    parallel_for(x.numel(), 8, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(fn(a[i]));
    });
    ctx.outputs[0] = std::move(y);
  });
}

// y[i] = fn(x[i]) for every numeric type.
template <typename Fn>
void unary_numeric(KernelContext& ctx, Fn fn) {
  const Tensor& x = ctx.in(0);
  dispatch_numeric(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
    const T* a = x.data<T>();
    T* o = y.data<T>();
    parallel_for(x.numel(), 2, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(fn(a[i]));
    });
    ctx.outputs[0] = std::move(y);
  });
}

// y = fn(x) on float data through Eigen arrays; double falls back to the scalar lambda.
template <typename ArrayFn, typename ScalarFn>
void unary_vectorized(KernelContext& ctx, ArrayFn array_fn, ScalarFn scalar_fn) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::Float32) return unary_float(ctx, scalar_fn);
  Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
  const float* a = x.data<float>();
  float* o = y.data<float>();
  parallel_for(x.numel(), 16, [&](int64_t b, int64_t e) {
    Eigen::Map<Eigen::ArrayXf>(o + b, e - b) = array_fn(Eigen::Map<const Eigen::ArrayXf>(a + b, e - b));
  });
  ctx.outputs[0] = std::move(y);
}

template <typename T>
T abs_value(T v) {
  if constexpr (std::is_unsigned_v<T>) return v;
  else return v < 0 ? static_cast<T>(-v) : v;
}

void op_abs(KernelContext& c) { unary_numeric(c, [](auto v) { return abs_value(v); }); }
void op_neg(KernelContext& c) { unary_numeric(c, [](auto v) { return static_cast<decltype(v)>(-v); }); }
void op_sign(KernelContext& c) {
  unary_numeric(c, [](auto v) { return static_cast<decltype(v)>((decltype(v)(0) < v) - (v < decltype(v)(0))); });
}
void op_relu(KernelContext& c) {
  unary_numeric(c, [](auto v) { return v > decltype(v)(0) ? v : decltype(v)(0); });
}
void op_floor(KernelContext& c) { unary_float(c, [](auto v) { return std::floor(v); }); }
void op_ceil(KernelContext& c) { unary_float(c, [](auto v) { return std::ceil(v); }); }
void op_round(KernelContext& c) { unary_float(c, [](auto v) { return std::nearbyint(v); }); }  // half to even
void op_sqrt(KernelContext& c) { unary_float(c, [](auto v) { return std::sqrt(v); }); }
void op_reciprocal(KernelContext& c) { unary_float(c, [](auto v) { return decltype(v)(1) / v; }); }
void op_exp(KernelContext& c) {
  unary_vectorized(c, [](const auto& a) { return a.exp(); }, [](auto v) { return std::exp(v); });
}
void op_log(KernelContext& c) {
  unary_vectorized(c, [](const auto& a) { return a.log(); }, [](auto v) { return std::log(v); });
}
void op_erf(KernelContext& c) {
  unary_vectorized(c, [](const auto& a) { return a.erf(); }, [](auto v) { return std::erf(v); });
}
void op_tanh(KernelContext& c) {
  unary_vectorized(c, [](const auto& a) { return a.tanh(); }, [](auto v) { return std::tanh(v); });
}
void op_sin(KernelContext& c) { unary_float(c, [](auto v) { return std::sin(v); }); }
void op_cos(KernelContext& c) { unary_float(c, [](auto v) { return std::cos(v); }); }
void op_tan(KernelContext& c) { unary_float(c, [](auto v) { return std::tan(v); }); }
void op_asin(KernelContext& c) { unary_float(c, [](auto v) { return std::asin(v); }); }
void op_acos(KernelContext& c) { unary_float(c, [](auto v) { return std::acos(v); }); }
void op_atan(KernelContext& c) { unary_float(c, [](auto v) { return std::atan(v); }); }
void op_sinh(KernelContext& c) { unary_float(c, [](auto v) { return std::sinh(v); }); }
void op_cosh(KernelContext& c) { unary_float(c, [](auto v) { return std::cosh(v); }); }
void op_asinh(KernelContext& c) { unary_float(c, [](auto v) { return std::asinh(v); }); }
void op_acosh(KernelContext& c) { unary_float(c, [](auto v) { return std::acosh(v); }); }
void op_atanh(KernelContext& c) { unary_float(c, [](auto v) { return std::atanh(v); }); }
void op_softsign(KernelContext& c) { unary_float(c, [](auto v) { return v / (decltype(v)(1) + std::fabs(v)); }); }
void op_softplus(KernelContext& c) {
  // log(1 + e^x) written to stay finite for large x.
  unary_float(c, [](auto v) { return v > decltype(v)(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
}
void op_sigmoid(KernelContext& c) {
  unary_vectorized(c, [](const auto& a) { return a.logistic(); }, [](auto v) {
    using T = decltype(v);
    return v >= T(0) ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v));
  });
}
void op_leaky_relu(KernelContext& c) {
  const float alpha = c.node.get_float("alpha", 0.01f);
  unary_float(c, [alpha](auto v) { return v >= decltype(v)(0) ? v : v * alpha; });
}
void op_elu(KernelContext& c) {
  const float alpha = c.node.get_float("alpha", 1.0f);
  unary_float(c, [alpha](auto v) { return v >= decltype(v)(0) ? v : alpha * (std::exp(v) - 1); });
}
void op_celu(KernelContext& c) {
  const float alpha = c.node.get_float("alpha", 1.0f);
  unary_float(c, [alpha](auto v) {
    using T = decltype(v);
    return std::max(T(0), v) + std::min(T(0), static_cast<T>(alpha * (std::exp(v / alpha) - 1)));
  });
}
void op_selu(KernelContext& c) {
  const float alpha = c.node.get_float("alpha", 1.67326319217681884765625f);
  const float gamma = c.node.get_float("gamma", 1.05070102214813232421875f);
  unary_float(c, [=](auto v) { return v > decltype(v)(0) ? gamma * v : gamma * (alpha * std::exp(v) - alpha); });
}
void op_thresholded_relu(KernelContext& c) {
  const float alpha = c.node.get_float("alpha", 1.0f);
  unary_float(c, [alpha](auto v) { return v > alpha ? v : decltype(v)(0); });
}
void op_hard_sigmoid(KernelContext& c) {
  const float alpha = c.node.get_float("alpha", 0.2f), beta = c.node.get_float("beta", 0.5f);
  unary_float(c, [=](auto v) {
    using T = decltype(v);
    return std::clamp(static_cast<T>(alpha * v + beta), T(0), T(1));
  });
}
void op_hard_swish(KernelContext& c) {
  unary_float(c, [](auto v) {
    using T = decltype(v);
    return v * std::clamp(static_cast<T>(v / T(6) + T(0.5)), T(0), T(1));
  });
}
void op_shrink(KernelContext& c) {
  const float lambd = c.node.get_float("lambd", 0.5f), bias = c.node.get_float("bias", 0.0f);
  unary_numeric(c, [=](auto v) {
    using T = decltype(v);
    const double x = static_cast<double>(v);
    return static_cast<T>(x < -lambd ? x + bias : (x > lambd ? x - bias : 0.0));
  });
}

void op_not(KernelContext& c) {
  const Tensor& x = c.in(0);
  if (x.dtype() != DType::Bool) c.fail("Not expects bool input, got {}", dtype_name(x.dtype()));
  Tensor y(DType::Bool, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y.data<uint8_t>()[i] = !x.data<uint8_t>()[i];
  c.outputs[0] = std::move(y);
}

template <bool kInf>
void is_nan_or_inf(KernelContext& c) {
  const Tensor& x = c.in(0);
  const bool pos = c.node.get_int("detect_positive", 1) != 0, neg = c.node.get_int("detect_negative", 1) != 0;
  Tensor y(DType::Bool, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = x.get_as_double(i);
    y.data<uint8_t>()[i] = kInf ? (std::isinf(v) && ((v > 0 && pos) || (v < 0 && neg))) : std::isnan(v);
  }
  c.outputs[0] = std::move(y);
}

// Identity and inference-mode Dropout pass their input through (sharing its buffer).
void op_identity(KernelContext& c) { c.outputs[0] = c.in(0); }
void op_dropout(KernelContext& c) {
  c.outputs[0] = c.in(0);
  if (c.outputs.size() > 1) {  // the mask of an inference-mode dropout keeps everything
    Tensor mask(DType::Bool, c.in(0).shape());
    std::fill(mask.data<uint8_t>(), mask.data<uint8_t>() + mask.numel(), 1);
    c.outputs[1] = std::move(mask);
  }
}

}  // namespace

void register_unary_ops(Registry& r) {
  r["Abs"] = op_abs;
  r["Neg"] = op_neg;
  r["Sign"] = op_sign;
  r["Relu"] = op_relu;
  r["Floor"] = op_floor;
  r["Ceil"] = op_ceil;
  r["Round"] = op_round;
  r["Sqrt"] = op_sqrt;
  r["Reciprocal"] = op_reciprocal;
  r["Exp"] = op_exp;
  r["Log"] = op_log;
  r["Erf"] = op_erf;
  r["Tanh"] = op_tanh;
  r["Sin"] = op_sin;
  r["Cos"] = op_cos;
  r["Tan"] = op_tan;
  r["Asin"] = op_asin;
  r["Acos"] = op_acos;
  r["Atan"] = op_atan;
  r["Sinh"] = op_sinh;
  r["Cosh"] = op_cosh;
  r["Asinh"] = op_asinh;
  r["Acosh"] = op_acosh;
  r["Atanh"] = op_atanh;
  r["Softsign"] = op_softsign;
  r["Softplus"] = op_softplus;
  r["Sigmoid"] = op_sigmoid;
  r["LeakyRelu"] = op_leaky_relu;
  r["Elu"] = op_elu;
  r["Celu"] = op_celu;
  r["Selu"] = op_selu;
  r["ThresholdedRelu"] = op_thresholded_relu;
  r["HardSigmoid"] = op_hard_sigmoid;
  r["HardSwish"] = op_hard_swish;
  r["Shrink"] = op_shrink;
  r["Not"] = op_not;
  r["IsNaN"] = is_nan_or_inf<false>;
  r["IsInf"] = is_nan_or_inf<true>;
  r["Identity"] = op_identity;
  r["Dropout"] = op_dropout;
}

}  // namespace dyad::ops
