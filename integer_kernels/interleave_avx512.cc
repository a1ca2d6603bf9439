// The AVX-512 twins of the interleaving kernels in qgemm.cc: rows of any length are read and
// written exactly (masks, no scalar tail, no overrun), sixteen columns per step.
#include <immintrin.h>

#include <cstdint>

#include "integer_kernels/qgemm_internal.h"

namespace dyad::qgemm_detail {

namespace {

inline __mmask16 lanes_between(int64_t begin, int64_t end) {  // lanes [begin, end) of sixteen
  begin = begin < 0 ? 0 : begin;
  end = end > 16 ? 16 : end;
  if (end <= begin) return 0;
  return static_cast<__mmask16>(((1u << (end - begin)) - 1) << begin);
}

// p + offset in integer arithmetic: a masked load's address may lie before the row (its lanes
// there are masked off), which pointer arithmetic may not express.
inline const void* address(const uint8_t* p, int64_t offset) {
  return reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(offset));
}

// Four rows of sixteen bytes into the quad layout: 64 bytes, column by column.
inline void store_quads(__m128i a, __m128i b, __m128i c, __m128i d, __mmask16 columns, uint8_t* dst) {
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
  __m512i out = _mm512_castsi128_si512(_mm_unpacklo_epi16(ab_lo, cd_lo));
  out = _mm512_inserti32x4(out, _mm_unpackhi_epi16(ab_lo, cd_lo), 1);
  out = _mm512_inserti32x4(out, _mm_unpacklo_epi16(ab_hi, cd_hi), 2);
  out = _mm512_inserti32x4(out, _mm_unpackhi_epi16(ab_hi, cd_hi), 3);
  _mm512_mask_storeu_epi32(dst, columns, out);  // one 32-bit lane per column
}

}  // namespace

void interleave_quad__avx512(const uint8_t* const rows[4], int64_t n, uint8_t* dst) {
  for (int64_t c = 0; c < n; c += 16) {
    const __mmask16 columns = lanes_between(0, n - c);
    store_quads(_mm_maskz_loadu_epi8(columns, rows[0] + c), _mm_maskz_loadu_epi8(columns, rows[1] + c),
                _mm_maskz_loadu_epi8(columns, rows[2] + c), _mm_maskz_loadu_epi8(columns, rows[3] + c), columns, dst + 4 * c);
  }
}

void interleave_quad_strided__avx512(const uint8_t* const rows[4], int64_t width, int64_t first, int64_t step, int64_t count,
                                     uint8_t pad, uint8_t* dst) {
  if (step > 2) return interleave_quad_strided__ref(rows, width, first, step, count, pad, dst);
  const __m128i pads = _mm_set1_epi8(static_cast<char>(pad));
  for (int64_t t = 0; t < count; t += 16) {
    const __mmask16 columns = lanes_between(0, count - t);
    const int64_t base = first + t * step;  // the input index of column t
    __m128i v[4];
    if (step == 1) {  // lanes whose index falls outside [0, width) keep the pad value
      const __mmask16 inside = lanes_between(-base, width - base);
      for (int j = 0; j < 4; ++j) v[j] = _mm_mask_loadu_epi8(pads, inside, address(rows[j], base));
    } else {  // two: the even bytes of the 32 from `base`
      const __mmask16 inside_lo = lanes_between(-base, width - base), inside_hi = lanes_between(-base - 16, width - base - 16);
      const __m128i low_bytes = _mm_set1_epi16(0x00FF);
      for (int j = 0; j < 4; ++j) {
        const __m128i lo = _mm_mask_loadu_epi8(pads, inside_lo, address(rows[j], base));
        const __m128i hi = _mm_mask_loadu_epi8(pads, inside_hi, address(rows[j], base + 16));
        v[j] = _mm_packus_epi16(_mm_and_si128(lo, low_bytes), _mm_and_si128(hi, low_bytes));
      }
    }
    store_quads(v[0], v[1], v[2], v[3], columns, dst + 4 * t);
  }
}

}  // namespace dyad::qgemm_detail
