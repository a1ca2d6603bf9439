// dyadic_requantize (lib/quant/dyadic.h) on sixteen int32 lanes, for the AVX-512 kernels only
// (include it from translation units compiled with -mavx512f).
#pragma once
#include <immintrin.h>

#include "lib/quant/dyadic.h"

namespace dyad {

// One output channel's requantization, worked out once (per GEMM panel, per depthwise plane)
// so that each vector of sixteen sums pays only its vector operations; the constants are read
// by broadcast loads at use.
// No default member values: make_requantizer sets every field, and a GEMM panel's stage holds
// eight, which default values made the compiler clear (rep stos) before filling them: 2-6% of a
// 256^3 product.
struct Requantizer {
  int64_t m;          // the multiplier, in each 64-bit lane
  int64_t round;      // 2^(s-1), plus zp * 2^s when `folded`
  int64_t shift;      // s
  int64_t odd_shift;  // s - 32 when `folded`
  int32_t lo, hi;     // clamp bounds: [qmin, qmax] when folded, else [qmin - zp, qmax - zp] or [qmin, qmax]
  int32_t zero_point;
  int32_t kind;       // kFolded, kWide or kNarrow (see requantize16)
  static constexpr int32_t kFolded = 0, kWide = 1, kNarrow = 2;
};

inline Requantizer make_requantizer(DyadicMultiplier d, int32_t zero_point, int32_t qmin, int32_t qmax) {
  Requantizer r;
  r.m = d.m;
  r.shift = d.s;
  r.zero_point = zero_point;
  if (d.s >= 32 && d.s <= 50 && zero_point >= -4096 && zero_point <= 4096) {
    r.kind = Requantizer::kFolded;
    r.round = (int64_t{1} << (d.s - 1)) + static_cast<int64_t>(zero_point) * (int64_t{1} << d.s);
    r.odd_shift = d.s - 32;
    r.lo = qmin;
    r.hi = qmax;
  } else {
    r.kind = d.s >= 31 ? Requantizer::kWide : Requantizer::kNarrow;
    r.odd_shift = 0;
    r.round = d.s > 0 ? (int64_t{1} << (d.s - 1)) : 0;
    r.lo = d.s >= 31 ? qmin - zero_point : qmin;
    r.hi = d.s >= 31 ? qmax - zero_point : qmax;
  }
  return r;
}

// A Requantizer's constants in registers, for applying it to several vectors (a GEMM row's
// two halves): built once, in locals, so that stores between the vectors cannot make the
// compiler reload them.
struct RequantizerVectors {
  __m512i m, round, lo, hi, zero_point;
  __m128i shift, odd_shift;
  int32_t kind;
};

__attribute__((always_inline)) inline RequantizerVectors vectors_of(const Requantizer& r) {
  RequantizerVectors v;
  v.kind = r.kind;
  v.m = _mm512_set1_epi64(r.m);
  v.round = _mm512_set1_epi64(r.round);
  v.shift = _mm_cvtsi64_si128(r.shift);
  v.odd_shift = _mm_cvtsi64_si128(r.odd_shift);
  if (r.kind == Requantizer::kNarrow) {  // clamped in 64-bit lanes
    v.lo = _mm512_set1_epi64(r.lo);
    v.hi = _mm512_set1_epi64(r.hi);
    v.zero_point = _mm512_set1_epi64(r.zero_point);
  } else {
    v.lo = _mm512_set1_epi32(r.lo);
    v.hi = _mm512_set1_epi32(r.hi);
    v.zero_point = _mm512_set1_epi32(r.zero_point);
  }
  return v;
}

// Returns int32 lanes in [qmin, qmax]: (acc * m + 2^(s-1)) >> s in int64 lanes (even and odd
// 32-bit lanes multiplied separately with vpmuldq), plus the zero point, clamped. Three forms,
// the same integers:
//  - kFolded, a multiplier below 1/2 (s >= 32: every conv output's but the rarest). Each
//    rescaled lane is at most 2^30 + 1 in magnitude, so the zero point joins the rounding
//    constant (zp * 2^s, a multiple of 2^s, passes the floor unchanged) and the sum still fits
//    int32. The odd lanes shift by s - 32, which leaves their result in the high dword, where
//    a blend takes it; then one clamp in 32-bit lanes.
//  - kWide, s = 31 (or s > 50): each rescaled lane fits int32 (|acc * m| < 2^62); the halves
//    are joined, clamped to [qmin - zp, qmax - zp] so that adding the zero point cannot wrap.
//  - kNarrow, s < 31: the rescaled lanes may not fit int32; clamped in 64-bit lanes.
// Always inlined: as a call it made the GEMM tile spill its accumulators around every store.
__attribute__((always_inline)) inline __m512i requantize16(__m512i acc, const RequantizerVectors& r) {
  const __m512i even_product = _mm512_mul_epi32(acc, r.m), odd_product = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), r.m);
  if (r.kind == Requantizer::kFolded) {
    const __m512i even = _mm512_sra_epi64(_mm512_add_epi64(even_product, r.round), r.shift);
    const __m512i odd = _mm512_sra_epi64(_mm512_add_epi64(odd_product, r.round), r.odd_shift);
    const __m512i joined = _mm512_mask_blend_epi32(0xAAAA, even, odd);
    return _mm512_min_epi32(_mm512_max_epi32(joined, r.lo), r.hi);
  }
  if (r.kind == Requantizer::kWide) {
    const __m512i even = _mm512_sra_epi64(_mm512_add_epi64(even_product, r.round), r.shift);
    const __m512i odd = _mm512_sra_epi64(_mm512_add_epi64(odd_product, r.round), r.shift);
    // Lane 2j from even's dword 2j, lane 2j + 1 from odd's dword 2j (16 + 2j in the pair).
    const __m512i joined = _mm512_permutex2var_epi32(
        even, _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30), odd);
    const __m512i clamped = _mm512_min_epi32(_mm512_max_epi32(joined, r.lo), r.hi);
    return _mm512_add_epi32(clamped, r.zero_point);
  }
  auto finish = [&](__m512i p) {
    const __m512i v = _mm512_add_epi64(_mm512_sra_epi64(_mm512_add_epi64(p, r.round), r.shift), r.zero_point);
    return _mm512_min_epi64(_mm512_max_epi64(v, r.lo), r.hi);
  };
  const __m512i even = finish(even_product);  // lanes 0, 2, 4, ...
  const __m512i odd = finish(odd_product);    // lanes 1, 3, 5, ...
  return _mm512_or_si512(_mm512_and_si512(even, _mm512_set1_epi64(0xFFFFFFFF)), _mm512_slli_epi64(odd, 32));
}

__attribute__((always_inline)) inline __m512i requantize16(__m512i acc, const Requantizer& r) { return requantize16(acc, vectors_of(r)); }

// Sixteen rows' requantizers side by side, row i's in lane i: what a column of the RowsInLanes
// kernel's sums needs when it is stored as it is (QOutputStage::transposed). Only for rows that
// are all kFolded (`folded`); otherwise the caller finishes the lanes one by one. The 64-bit
// constants go by 64-bit lane: *_even holds row 2j's in lane j, *_odd row 2j + 1's.
struct LaneRequantizers {
  __m512i m_even, m_odd, round_even, round_odd, shift_even, shift_odd, lo, hi;
  bool folded;
};

// Rows past `count` get constants that make 0 (their lanes are not stored).
inline LaneRequantizers lane_requantizers(const Requantizer* r, int count) {
  alignas(64) int64_t m[16], round[16], shift[16];
  alignas(64) int32_t lo[16], hi[16];
  LaneRequantizers v;
  v.folded = true;
  for (int i = 0; i < 16; ++i) {
    const bool used = i < count;
    v.folded = v.folded && (!used || r[i].kind == Requantizer::kFolded);
    m[i] = used ? r[i].m : 0;
    round[i] = used ? r[i].round : 0;
    shift[i] = used ? (i % 2 == 0 ? r[i].shift : r[i].odd_shift) : 0;
    lo[i] = used ? r[i].lo : 0;
    hi[i] = used ? r[i].hi : 0;
  }
  const __m512i even_index = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), odd_index = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
  auto pick = [](const int64_t* a, __m512i index) {
    return _mm512_permutex2var_epi64(_mm512_load_si512(a), index, _mm512_load_si512(a + 8));
  };
  v.m_even = pick(m, even_index);
  v.m_odd = pick(m, odd_index);
  v.round_even = pick(round, even_index);
  v.round_odd = pick(round, odd_index);
  v.shift_even = pick(shift, even_index);
  v.shift_odd = pick(shift, odd_index);
  v.lo = _mm512_load_si512(lo);
  v.hi = _mm512_load_si512(hi);
  return v;
}

// requantize16's kFolded form with a requantizer per lane (variable shifts).
__attribute__((always_inline)) inline __m512i requantize16_lanes(__m512i acc, const LaneRequantizers& r) {
  const __m512i even_product = _mm512_mul_epi32(acc, r.m_even), odd_product = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), r.m_odd);
  const __m512i even = _mm512_srav_epi64(_mm512_add_epi64(even_product, r.round_even), r.shift_even);
  const __m512i odd = _mm512_srav_epi64(_mm512_add_epi64(odd_product, r.round_odd), r.shift_odd);
  const __m512i joined = _mm512_mask_blend_epi32(0xAAAA, even, odd);
  return _mm512_min_epi32(_mm512_max_epi32(joined, r.lo), r.hi);
}

// The low byte of each int32 lane, narrowed in a register (vpmovdb). The empty asm keeps it
// there: GCC otherwise folds the narrow into a following masked store, and vpmovdb to memory is
// slow on Zen 4.
__attribute__((always_inline)) inline __m128i low_bytes16(__m512i v) {
  __m128i bytes = _mm512_cvtepi32_epi8(v);
  asm("" : "+v"(bytes));
  return bytes;
}

}  // namespace dyad
