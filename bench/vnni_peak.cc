// The CPU's int8 peak in this process: sixteen independent vpdpbusd zmm chains on distinct
// operands, in named registers (GCC keeps an array of vectors in memory, which would measure
// store forwarding instead), best of five runs so that a moment of frequency ramp-up or a busy
// host does not set the reference.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace dyad::bench {

namespace {

double one_run() {
  __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  __m512i c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
  // Two activation vectors and eight weight broadcasts, all different, so that no two chains
  // compute the same thing (the compiler would merge them).
  const __m512i a0 = _mm512_set1_epi8(1), a1 = _mm512_set1_epi8(2);
  const __m512i b0 = _mm512_set1_epi8(1), b1 = _mm512_set1_epi8(2), b2 = _mm512_set1_epi8(3), b3 = _mm512_set1_epi8(4);
  const __m512i b4 = _mm512_set1_epi8(5), b5 = _mm512_set1_epi8(6), b6 = _mm512_set1_epi8(7), b7 = _mm512_set1_epi8(8);
  const int64_t iterations = 10'000'000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iterations; ++i) {
    c0 = _mm512_dpbusd_epi32(c0, a0, b0), c1 = _mm512_dpbusd_epi32(c1, a1, b0);
    c2 = _mm512_dpbusd_epi32(c2, a0, b1), c3 = _mm512_dpbusd_epi32(c3, a1, b1);
    c4 = _mm512_dpbusd_epi32(c4, a0, b2), c5 = _mm512_dpbusd_epi32(c5, a1, b2);
    c6 = _mm512_dpbusd_epi32(c6, a0, b3), c7 = _mm512_dpbusd_epi32(c7, a1, b3);
    c8 = _mm512_dpbusd_epi32(c8, a0, b4), c9 = _mm512_dpbusd_epi32(c9, a1, b4);
    c10 = _mm512_dpbusd_epi32(c10, a0, b5), c11 = _mm512_dpbusd_epi32(c11, a1, b5);
    c12 = _mm512_dpbusd_epi32(c12, a0, b6), c13 = _mm512_dpbusd_epi32(c13, a1, b6);
    c14 = _mm512_dpbusd_epi32(c14, a0, b7), c15 = _mm512_dpbusd_epi32(c15, a1, b7);
    __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7));
    __asm__ volatile("" : "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11), "+v"(c12), "+v"(c13), "+v"(c14), "+v"(c15));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(iterations) * 16 * 64 * 2 / seconds / 1e9;
}

}  // namespace

// Returns GOPS (2 ops per multiply-add) of one thread.
double vnni_peak_gops_one_thread() {
  double best = 0;
  for (int run = 0; run < 5; ++run) best = std::max(best, one_run());
  return best;
}

}  // namespace dyad::bench
