// The CPU's int8 peak in this process: twenty-four independent vpdpbusd zmm chains, all operands
// in registers, best of five runs so that a moment of frequency ramp-up or a busy host does not
// set the reference. Inline asm with fixed registers: with intrinsics GCC keeps arrays of
// vectors in memory (which would measure store forwarding). Sixteen register-only chains
// measured 4% below this loop once (871 against 901-910 GOPS) and level with twenty-four another
// time (886-890 against 887-892, scratch loop of 48 vpdpbusd per iteration): twenty-four are
// enough either way.
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace dyad::bench {

namespace {

// Four "weight" vectors (zmm24-27) against two "activation" vectors (zmm28-29) into zmm0-23: the
// 64x6 kernel's k step without its loads.
#define DYAD_PEAK_COLUMN(b, a0, a1, a2, a3)        \
  "vpdpbusd %%zmm24, %%zmm" b ", %%zmm" a0 "\n\t" \
  "vpdpbusd %%zmm25, %%zmm" b ", %%zmm" a1 "\n\t" \
  "vpdpbusd %%zmm26, %%zmm" b ", %%zmm" a2 "\n\t" \
  "vpdpbusd %%zmm27, %%zmm" b ", %%zmm" a3 "\n\t"

double one_run() {
  const int64_t iterations = 10'000'000;
  int64_t left = iterations;
  const auto t0 = std::chrono::steady_clock::now();
  asm volatile(
      "vpternlogd $0xff, %%zmm24, %%zmm24, %%zmm24\n\t"  // all ones: nonzero operands
      "vmovdqa64 %%zmm24, %%zmm25\n\t" "vmovdqa64 %%zmm24, %%zmm26\n\t" "vmovdqa64 %%zmm24, %%zmm27\n\t"
      "vmovdqa64 %%zmm24, %%zmm28\n\t" "vmovdqa64 %%zmm24, %%zmm29\n\t"
      "1:\n\t"
      DYAD_PEAK_COLUMN("28", "0", "1", "2", "3") DYAD_PEAK_COLUMN("29", "4", "5", "6", "7")
      DYAD_PEAK_COLUMN("28", "8", "9", "10", "11") DYAD_PEAK_COLUMN("29", "12", "13", "14", "15")
      DYAD_PEAK_COLUMN("28", "16", "17", "18", "19") DYAD_PEAK_COLUMN("29", "20", "21", "22", "23")
      "dec %[left]\n\t"
      "jnz 1b\n\t"
      : [left] "+r"(left)
      :
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
        "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26",
        "xmm27", "xmm28", "xmm29");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(iterations) * 24 * 64 * 2 / seconds / 1e9;  // 64 multiply-adds per vpdpbusd
}

#undef DYAD_PEAK_COLUMN

}  // namespace

// Returns GOPS (2 ops per multiply-add) of one thread.
double vnni_peak_gops_one_thread() {
  double best = 0;
  for (int run = 0; run < 5; ++run) best = std::max(best, one_run());
  return best;
}

}  // namespace dyad::bench
