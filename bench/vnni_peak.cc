// The CPU's int8 peak in this process: sixteen independent vpdpbusd zmm chains.
#include <immintrin.h>

#include <chrono>
#include <cstdint>

namespace dyad::bench {

// Returns GOPS (2 ops per multiply-add) of one thread.
double vnni_peak_gops_one_thread() {
  __m512i acc[16];
  for (auto& a : acc) a = _mm512_setzero_si512();
  const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
  const int64_t iterations = 20'000'000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iterations; ++i)
    for (auto& c : acc) c = _mm512_dpbusd_epi32(c, a, b);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int32_t sink = 0;
  for (auto& c : acc) sink += _mm512_reduce_add_epi32(c);
  volatile int32_t keep = sink;
  (void)keep;
  return static_cast<double>(iterations) * 16 * 64 * 2 / seconds / 1e9;
}

}  // namespace dyad::bench
