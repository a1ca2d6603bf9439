// dyadic_requantize (lib/quant/dyadic.h) on sixteen int32 lanes, for the AVX-512 kernels only
// (include it from translation units compiled with -mavx512f).
#pragma once
#include <immintrin.h>

#include "lib/quant/dyadic.h"

namespace dyad {

// Returns int32 lanes in [qmin, qmax]: (acc * m + 2^(s-1)) >> s in int64 lanes (even and odd
// 32-bit lanes multiplied separately with vpmuldq), plus the zero point, clamped.
//
// With s >= 31 (a multiplier below 1, as every conv and matmul output has) each rescaled lane
// fits int32 (|acc * m| < 2^62), so the two halves are joined first and clamped once in 32-bit
// lanes, to [qmin - zp, qmax - zp] before adding the zero point so that the add cannot wrap:
// the same integers in ten operations instead of fourteen.
// Always inlined: as a call it made the GEMM tile spill its accumulators around every store.
__attribute__((always_inline)) inline __m512i requantize16(__m512i acc, DyadicMultiplier d, int32_t zero_point, int32_t qmin,
                                                         int32_t qmax) {
  const __m512i m = _mm512_set1_epi64(d.m);
  const __m512i round = _mm512_set1_epi64(d.s > 0 ? (int64_t{1} << (d.s - 1)) : 0);
  const __m128i shift = _mm_cvtsi32_si128(d.s);
  if (d.s >= 31) {
    const __m512i even = _mm512_sra_epi64(_mm512_add_epi64(_mm512_mul_epi32(acc, m), round), shift);
    const __m512i odd = _mm512_sra_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), m), round), shift);
    // Lane 2j from even's dword 2j, lane 2j + 1 from odd's dword 2j (16 + 2j in the pair).
    const __m512i joined = _mm512_permutex2var_epi32(
        even, _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30), odd);
    const __m512i clamped = _mm512_min_epi32(_mm512_max_epi32(joined, _mm512_set1_epi32(qmin - zero_point)),
                                             _mm512_set1_epi32(qmax - zero_point));
    return _mm512_add_epi32(clamped, _mm512_set1_epi32(zero_point));
  }
  const __m512i zp = _mm512_set1_epi64(zero_point), lo = _mm512_set1_epi64(qmin), hi = _mm512_set1_epi64(qmax);
  auto finish = [&](__m512i p) {
    const __m512i r = _mm512_add_epi64(_mm512_sra_epi64(_mm512_add_epi64(p, round), shift), zp);
    return _mm512_min_epi64(_mm512_max_epi64(r, lo), hi);
  };
  const __m512i even = finish(_mm512_mul_epi32(acc, m));                         // lanes 0, 2, 4, ...
  const __m512i odd = finish(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), m));  // lanes 1, 3, 5, ...
  return _mm512_or_si512(_mm512_and_si512(even, _mm512_set1_epi64(0xFFFFFFFF)), _mm512_slli_epi64(odd, 32));
}

}  // namespace dyad
