#include "lib/quant/dyadic.h"

#include <algorithm>
#include <cmath>

namespace dyad {

bool dyadic_multiplier_valid(double real) { return std::isfinite(real) && real >= 0 && real < 2147483648.0; }

DyadicMultiplier dyadic_from_real(double real) {
  if (!(real > 0) || !dyadic_multiplier_valid(real)) return {};
  // real = f * 2^e with f in [0.5, 1): m = round(f * 2^31), s = 31 - e.
  int e = 0;
  const double f = std::frexp(real, &e);
  int64_t m = static_cast<int64_t>(std::floor(std::ldexp(f, 31) + 0.5));  // exact: f has 53 bits
  int s = 31 - e;
  if (m == (int64_t{1} << 31)) {  // rounded up to 2^31: keep m inside int32
    m >>= 1;
    --s;
  }
  if (s < 0) return {};  // real >= 2^31, already excluded by dyadic_multiplier_valid
  if (s > 62) {
    // Shift the significand right so s = 62, rounding half up; below 2^-32 nothing is left.
    const int drop = s - 62;
    if (drop >= 32) return {};
    m = (m + (int64_t{1} << (drop - 1))) >> drop;
    s = 62;
    if (m == 0) return {};
  }
  return {static_cast<int32_t>(m), static_cast<int32_t>(s)};
}

DyadicAddMultipliers dyadic_add_from_real(double real_a, double real_b) {
  const DyadicMultiplier big = dyadic_from_real(std::max(real_a, real_b));
  if (big.m == 0) return {};
  auto at_shift = [&](double real) {
    const double m = std::floor(std::ldexp(real, big.s) + 0.5);
    return static_cast<int32_t>(std::min(m, 2147483647.0));
  };
  return {at_shift(real_a), at_shift(real_b), big.s};
}

}  // namespace dyad
