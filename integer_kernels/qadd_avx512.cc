// u8_dyadic_add_16__avx512: sixteen elements per step. The differences x - z are int32; each
// product with a multiplier is exact in int64 (vpmuldq on the even lanes, then on the odd lanes
// shifted down), the sum is shifted arithmetically and clamped in int64, and the even and odd
// results are woven back into sixteen int32 lanes before narrowing to bytes. Only called where
// nothing can wrap (qadd.cc: fits_avx512), so it equals the wrapping reference.
#include <immintrin.h>

#include <cstdint>

#include "integer_kernels/qadd.h"
#include "integer_kernels/requantize_avx512.h"

namespace dyad {

bool avx512_add_cpu() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

void u8_dyadic_add_16__avx512(const QAddParams& p, const uint8_t* a, const uint8_t* b, int64_t n, uint8_t* y) {
  const __m512i za = _mm512_set1_epi32(static_cast<int32_t>(p.za)), zb = _mm512_set1_epi32(static_cast<int32_t>(p.zb));
  const __m512i ma = _mm512_set1_epi64(p.ma), mb = _mm512_set1_epi64(p.mb), h = _mm512_set1_epi64(p.h);
  const __m512i zp = _mm512_set1_epi64(p.zp), lo = _mm512_set1_epi64(p.qmin), hi = _mm512_set1_epi64(p.qmax);
  const __m128i shift = _mm_cvtsi32_si128(p.shift);
  auto finish = [&](__m512i pa, __m512i pb) {  // int64 lanes: sum, shift, zero point, clamp
    const __m512i r = _mm512_add_epi64(_mm512_sra_epi64(_mm512_add_epi64(_mm512_add_epi64(pa, pb), h), shift), zp);
    return _mm512_min_epi64(_mm512_max_epi64(r, lo), hi);
  };
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i da = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, a + i)), za);
    const __m512i db = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, b + i)), zb);
    const __m512i even = finish(_mm512_mul_epi32(da, ma), _mm512_mul_epi32(db, mb));
    const __m512i odd = finish(_mm512_mul_epi32(_mm512_srli_epi64(da, 32), ma), _mm512_mul_epi32(_mm512_srli_epi64(db, 32), mb));
    // Results are in [0, 255]: an even lane's low half and the odd one shifted up make the pair.
    const __m512i woven = _mm512_or_si512(_mm512_and_si512(even, _mm512_set1_epi64(0xFFFFFFFF)), _mm512_slli_epi64(odd, 32));
    _mm_mask_storeu_epi8(y + i, mask, low_bytes16(woven));
  }
}

}  // namespace dyad
