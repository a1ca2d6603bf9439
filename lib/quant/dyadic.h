// Dyadic requantization: the one definition of integer rescaling in Dyad.
//
// A real multiplier M (for a conv: s_x * s_w[c] / s_y) is represented as m / 2^s with an integer
// m in [2^30, 2^31) and a shift s in [0, 62]. Rescaling an int32 accumulator is
//
//     r = floor((acc * m + 2^(s-1)) / 2^s)          (round half up; 2^(s-1) is 0 when s = 0)
//     y = clamp(r + zero_point, qmin, qmax)
//
// computed exactly in int64: |acc * m| < 2^62, and the arithmetic shift of a negative int64 is a
// floor in C++20. This is what the emitted ONNX graph computes with Mul, Add, Mod, Sub, Div
// (docs: ../shared/docs/onnx-integer.md §1.3) and what every integer kernel computes; the
// emitter, the integer executor and the kernels all call these functions, so the rounding rule
// exists in one place. Round half up was chosen because it is the cheapest exact form in ONNX
// (6 nodes against 11 for half to even) and what integer runtimes commonly use.
#pragma once
#include <cstdint>

namespace dyad {

struct DyadicMultiplier {
  int32_t m = 0;  // in [2^30, 2^31), except below 2^-31 where s stops at 62 and m shrinks (0: none)
  int32_t s = 0;  // in [0, 62]
};

// The closest m / 2^s to `real` (>= 0), m rounded half up from the exact binary expansion.
// Multipliers too small for s <= 62 (below ~2^-32) become m = 0 (the layer outputs its zero
// point); multipliers of 2^31 or more are rejected by the caller (see dyadic_multiplier_valid).
DyadicMultiplier dyadic_from_real(double real);

// True if `real` can be represented (finite, >= 0, < 2^31).
bool dyadic_multiplier_valid(double real);

// floor((acc * m + 2^(s-1)) / 2^s): the rounding-half-up rescale, exact for every int32 acc.
inline int64_t dyadic_rescale(int32_t acc, DyadicMultiplier d) {
  const int64_t p = static_cast<int64_t>(acc) * d.m;
  const int64_t half = d.s > 0 ? (int64_t{1} << (d.s - 1)) : 0;
  return (p + half) >> d.s;  // arithmetic shift = floor (C++20)
}

// dyadic_rescale, plus the zero point, clamped to [qmin, qmax].
inline int32_t dyadic_requantize(int32_t acc, DyadicMultiplier d, int32_t zero_point, int32_t qmin, int32_t qmax) {
  const int64_t r = dyadic_rescale(acc, d) + zero_point;
  return static_cast<int32_t>(r < qmin ? qmin : (r > qmax ? qmax : r));
}

// Adding two quantized tensors with different scales (a residual Add):
//   y = clamp(floor(((a - za) * ma + (b - zb) * mb + 2^(s-1)) / 2^s) + zp, qmin, qmax)
// with ma / 2^s ~ s_a / s_y and mb / 2^s ~ s_b / s_y sharing one shift, so the sum is rounded
// once. |a - za| <= 255 and m < 2^31 keep every term inside int64.
struct DyadicAddMultipliers {
  int32_t ma = 0, mb = 0, s = 0;
};
// The shift is chosen for the larger multiplier; both must be below 2^31.
DyadicAddMultipliers dyadic_add_from_real(double real_a, double real_b);

inline int32_t dyadic_add(int32_t a, int32_t za, int32_t b, int32_t zb, DyadicAddMultipliers d, int32_t zero_point,
                          int32_t qmin, int32_t qmax) {
  const int64_t p = static_cast<int64_t>(a - za) * d.ma + static_cast<int64_t>(b - zb) * d.mb;
  const int64_t half = d.s > 0 ? (int64_t{1} << (d.s - 1)) : 0;
  const int64_t r = ((p + half) >> d.s) + zero_point;
  return static_cast<int32_t>(r < qmin ? qmin : (r > qmax ? qmax : r));
}

}  // namespace dyad
