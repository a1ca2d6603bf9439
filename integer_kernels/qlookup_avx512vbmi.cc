// u8_lut256_64__avx512vbmi: 64 lookups per step. vpermi2b indexes 128 bytes (two registers)
// with the low seven bits of each index; doing that for both table halves and blending on the
// index's top bit covers all 256 entries. The tail goes through a masked load and store.
#include <immintrin.h>

#include <cstdint>

namespace dyad {

bool avx512vbmi_cpu() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi");
}

void u8_lut256_64__avx512vbmi(const uint8_t table[256], const uint8_t* x, int64_t n, uint8_t* y) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  auto lookup = [&](__m512i idx) {
    const __m512i low = _mm512_permutex2var_epi8(t0, idx, t1);   // entries 0-127 (bit 7 ignored)
    const __m512i high = _mm512_permutex2var_epi8(t2, idx, t3);  // entries 128-255
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high);
  };
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(y + i, lookup(_mm512_loadu_si512(x + i)));
  if (i < n) {
    const __mmask64 mask = _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(n - i));
    _mm512_mask_storeu_epi8(y + i, mask, lookup(_mm512_maskz_loadu_epi8(mask, x + i)));
  }
}

}  // namespace dyad
