// qu8_qs8_gemm_8x32c4__avx512vnni: 8 weight rows x 32 activation columns per register tile,
// four k per vpdpbusd (u8 activations x s8 weights, exact int32 sums, wrapping like the
// reference). Columns go in blocks sized for L2. Tiled activations are read where they are
// (each tile's k steps are consecutive); Strided and Indirect ones are copied tile by tile into
// consecutive memory when enough weight rows reuse them. Epilogue, per row: acc += bias -
// z * rowsum, then requantize16 (requantize_avx512.h) and a truncating narrow to bytes, which is
// exact because the values are already in range; inside the asm for whole tiles of int32 or of
// folded-form bytes (for bytes from Tiled activations, during the next tile's k loop:
// TilePipeline), otherwise once per tile from the spilled sums. A tile whose stored columns are
// all in its first sixteen computes only those.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "integer_kernels/qgemm_epilogue_avx512.h"
#include "integer_kernels/qgemm_internal.h"
#include "integer_kernels/requantize_avx512.h"

namespace dyad::qgemm_detail {

// BW and VL too: this file and the depthwise kernel are compiled with them.
bool avx512vnni_cpu() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}

namespace {

// The byte offsets the asm epilogue reads a Requantizer at.
static_assert(offsetof(Requantizer, m) == 0 && offsetof(Requantizer, round) == 8 && offsetof(Requantizer, shift) == 16 &&
              offsetof(Requantizer, odd_shift) == 24 && offsetof(Requantizer, lo) == 32 && offsetof(Requantizer, hi) == 36 &&
              sizeof(Requantizer) == 48);

// The k loop of a tile is inline asm, whole, with fixed registers: accumulators zmm0-15 (row r
// in zmm(2r) and zmm(2r + 1)), activations zmm16-17, broadcast weights zmm18. With
// intrinsics (and even with an asm vpdpbusd tying each accumulator) GCC 12 copied five of the
// sixteen accumulators between registers on every k step, ten extra instructions per sixteen
// products; and an asm statement cannot name sixteen read-write vectors as operands (30 at
// most, each read-write one counting twice). So the sums leave through memory, once per tile
// (hence the "memory" clobber, which also covers the activations and weights the loop reads, and
// volatile: no output operand keeps the statement alive). Each row's weights are broadcast once
// into zmm18 for its two products: as an embedded broadcast ({1to16}) in both vpdpbusd instead,
// the loop ran 12% slower with its data in L1.
#define DYAD_QROW_ASM(w, a0, a1)           \
  "vpbroadcastd " w "(%[pw]), %%zmm18\n\t" \
  "vpdpbusd %%zmm18, %%zmm16, %%zmm" a0 "\n\t" \
  "vpdpbusd %%zmm18, %%zmm17, %%zmm" a1 "\n\t"
// The eight rows of k step s of a group (weights at %[pw] + 32 s; the assembler adds).
#define DYAD_QTILE_ASM_AT(s)                                                                             \
  DYAD_QROW_ASM(s "*32+0", "0", "1") DYAD_QROW_ASM(s "*32+4", "2", "3") DYAD_QROW_ASM(s "*32+8", "4", "5") \
  DYAD_QROW_ASM(s "*32+12", "6", "7") DYAD_QROW_ASM(s "*32+16", "8", "9")                               \
  DYAD_QROW_ASM(s "*32+20", "10", "11") DYAD_QROW_ASM(s "*32+24", "12", "13")                           \
  DYAD_QROW_ASM(s "*32+28", "14", "15")
#define DYAD_QTILE_ASM DYAD_QTILE_ASM_AT("0")
// k step s of a group over consecutive activations (%[px] + 128 s).
#define DYAD_QSTEP_PACKED(s)                            \
  "vmovdqu64 " s "*128(%[px]), %%zmm16\n\t"             \
  "vmovdqu64 " s "*128+64(%[px]), %%zmm17\n\t"          \
  DYAD_QTILE_ASM_AT(s)
#define DYAD_QTILE_ZERO                                                                                  \
  "vpxord %%zmm0, %%zmm0, %%zmm0\n\t" "vmovdqa64 %%zmm0, %%zmm1\n\t" "vmovdqa64 %%zmm0, %%zmm2\n\t"      \
  "vmovdqa64 %%zmm0, %%zmm3\n\t" "vmovdqa64 %%zmm0, %%zmm4\n\t" "vmovdqa64 %%zmm0, %%zmm5\n\t"           \
  "vmovdqa64 %%zmm0, %%zmm6\n\t" "vmovdqa64 %%zmm0, %%zmm7\n\t" "vmovdqa64 %%zmm0, %%zmm8\n\t"           \
  "vmovdqa64 %%zmm0, %%zmm9\n\t" "vmovdqa64 %%zmm0, %%zmm10\n\t" "vmovdqa64 %%zmm0, %%zmm11\n\t"         \
  "vmovdqa64 %%zmm0, %%zmm12\n\t" "vmovdqa64 %%zmm0, %%zmm13\n\t" "vmovdqa64 %%zmm0, %%zmm14\n\t"        \
  "vmovdqa64 %%zmm0, %%zmm15\n\t"
#define DYAD_QTILE_SPILL                                                                                 \
  "vmovdqa64 %%zmm0, (%[acc])\n\t" "vmovdqa64 %%zmm1, 64(%[acc])\n\t" "vmovdqa64 %%zmm2, 128(%[acc])\n\t" \
  "vmovdqa64 %%zmm3, 192(%[acc])\n\t" "vmovdqa64 %%zmm4, 256(%[acc])\n\t" "vmovdqa64 %%zmm5, 320(%[acc])\n\t" \
  "vmovdqa64 %%zmm6, 384(%[acc])\n\t" "vmovdqa64 %%zmm7, 448(%[acc])\n\t" "vmovdqa64 %%zmm8, 512(%[acc])\n\t" \
  "vmovdqa64 %%zmm9, 576(%[acc])\n\t" "vmovdqa64 %%zmm10, 640(%[acc])\n\t" "vmovdqa64 %%zmm11, 704(%[acc])\n\t" \
  "vmovdqa64 %%zmm12, 768(%[acc])\n\t" "vmovdqa64 %%zmm13, 832(%[acc])\n\t" "vmovdqa64 %%zmm14, 896(%[acc])\n\t" \
  "vmovdqa64 %%zmm15, 960(%[acc])\n\t"
// The k loop over consecutive activations (%[px] + 128 kk), and over quads read through the
// table %[q] (LOADS: the two vectors of activations at %[px] + %[off]).
#define DYAD_QTILE_PACKED_LOOP                \
  ".p2align 6\n\t"                            \
  "1:\n\t"                                    \
  DYAD_QSTEP_PACKED("0")                      \
  "add $128, %[px]\n\t"                       \
  "add $32, %[pw]\n\t"                        \
  "cmp %[end], %[pw]\n\t"                     \
  "jne 1b\n\t"
// The k loop of a tile whose stored lanes are all in its first sixteen: one vector of
// activations per k step, the even accumulators only (the odd ones stay zero, and unstored).
#define DYAD_QTILE_PACKED_HALF_LOOP                                                   \
  ".p2align 6\n\t"                                                                  \
  "1:\n\t"                                                                          \
  "vmovdqu64 (%[px]), %%zmm16\n\t"                                                  \
  "vpbroadcastd 0(%[pw]), %%zmm18\n\t" "vpdpbusd %%zmm18, %%zmm16, %%zmm0\n\t"     \
  "vpbroadcastd 4(%[pw]), %%zmm18\n\t" "vpdpbusd %%zmm18, %%zmm16, %%zmm2\n\t"     \
  "vpbroadcastd 8(%[pw]), %%zmm18\n\t" "vpdpbusd %%zmm18, %%zmm16, %%zmm4\n\t"     \
  "vpbroadcastd 12(%[pw]), %%zmm18\n\t" "vpdpbusd %%zmm18, %%zmm16, %%zmm6\n\t"    \
  "vpbroadcastd 16(%[pw]), %%zmm18\n\t" "vpdpbusd %%zmm18, %%zmm16, %%zmm8\n\t"    \
  "vpbroadcastd 20(%[pw]), %%zmm18\n\t" "vpdpbusd %%zmm18, %%zmm16, %%zmm10\n\t"   \
  "vpbroadcastd 24(%[pw]), %%zmm18\n\t" "vpdpbusd %%zmm18, %%zmm16, %%zmm12\n\t"   \
  "vpbroadcastd 28(%[pw]), %%zmm18\n\t" "vpdpbusd %%zmm18, %%zmm16, %%zmm14\n\t"   \
  "add $128, %[px]\n\t"                                                             \
  "add $32, %[pw]\n\t"                                                              \
  "cmp %[end], %[pw]\n\t"                                                           \
  "jne 1b\n\t"
#define DYAD_QTILE_INDIRECT_LOOP(LOADS)       \
  ".p2align 6\n\t"                            \
  "1:\n\t"                                    \
  "mov (%[q]), %[px]\n\t"                     \
  LOADS                                       \
  DYAD_QTILE_ASM                              \
  "add $8, %[q]\n\t"                          \
  "add $32, %[pw]\n\t"                        \
  "cmp %[end], %[pw]\n\t"                     \
  "jne 1b\n\t"
// Row r of a whole int32 tile: its sums (zmm a0, a1) plus the row's offset (at byte `offset` of
// %[offsets]) stored at %[py], which then moves one row down.
#define DYAD_QTILE_STORE_ROW(offset, a0, a1)                 \
  "vpbroadcastd " offset "(%[offsets]), %%zmm18\n\t"         \
  "vpaddd %%zmm18, %%zmm" a0 ", %%zmm" a0 "\n\t"            \
  "vpaddd %%zmm18, %%zmm" a1 ", %%zmm" a1 "\n\t"            \
  "vmovdqu32 %%zmm" a0 ", (%[py])\n\t"                      \
  "vmovdqu32 %%zmm" a1 ", 64(%[py])\n\t"                    \
  "add %[row_bytes], %[py]\n\t"
// requantize16's kFolded form on the sixteen sums (offset added) in register `sum`, with the
// Requantizer's m, rounding constant, shift, odd shift and clamp bounds in the operands named
// (registers, or embedded broadcasts), shifting with `shift_op`; narrowed to bytes and stored
// at byte `at` of %[py]. Uses zmm25-26 (and `sum`).
#define DYAD_QREQUANT16(sum, m, round, shift_op, shift, odd_shift, lo, hi, at) \
  "vpsrlq $32, " sum ", %%zmm25\n\t"                                  \
  "vpmuldq " m ", " sum ", %%zmm26\n\t"                               \
  "vpmuldq " m ", %%zmm25, %%zmm25\n\t"                               \
  "vpaddq " round ", %%zmm26, %%zmm26\n\t"                            \
  "vpaddq " round ", %%zmm25, %%zmm25\n\t"                            \
  shift_op " " shift ", %%zmm26, %%zmm26\n\t"                         \
  shift_op " " odd_shift ", %%zmm25, %%zmm25\n\t"                     \
  "vpblendmd %%zmm25, %%zmm26, %%zmm26%{%[odd]%}\n\t"                 \
  "vpmaxsd " lo ", %%zmm26, %%zmm26\n\t"                              \
  "vpminsd " hi ", %%zmm26, %%zmm26\n\t"                              \
  "vpmovdb %%zmm26, %%xmm26\n\t"                                      \
  "vmovdqu8 %%xmm26, " at "(%[py])\n\t"
// Row r of a whole byte tile, from its registers (zmm a0, a1), with its offset at byte `offset`
// of %[offsets] and its Requantizer at byte `rq` of %[rq] (constants in zmm19-24); %[py] then
// moves one row down. Shifts by an xmm count: here 0.5-1% faster than per-lane counts
// (in-process A/B on 256^3, scratch driver).
#define DYAD_QTILE_REQUANT_ROW(offset, rq, a0, a1)                                                    \
  "vpbroadcastd " offset "(%[offsets]), %%zmm18\n\t"                                                 \
  "vpaddd %%zmm18, %%zmm" a0 ", %%zmm" a0 "\n\t"                                                    \
  "vpaddd %%zmm18, %%zmm" a1 ", %%zmm" a1 "\n\t"                                                    \
  "vpbroadcastq " rq "(%[rq]), %%zmm19\n\t"                                                          \
  "vpbroadcastq " rq "+8(%[rq]), %%zmm20\n\t"                                                        \
  "vmovq " rq "+16(%[rq]), %%xmm21\n\t"                                                              \
  "vmovq " rq "+24(%[rq]), %%xmm22\n\t"                                                              \
  "vpbroadcastd " rq "+32(%[rq]), %%zmm23\n\t"                                                       \
  "vpbroadcastd " rq "+36(%[rq]), %%zmm24\n\t"                                                       \
  DYAD_QREQUANT16("%%zmm" a0, "%%zmm19", "%%zmm20", "vpsraq", "%%xmm21", "%%xmm22", "%%zmm23", "%%zmm24", "0")  \
  DYAD_QREQUANT16("%%zmm" a1, "%%zmm19", "%%zmm20", "vpsraq", "%%xmm21", "%%xmm22", "%%zmm23", "%%zmm24", "16") \
  "add %[row_bytes], %[py]\n\t"
// Half h of a pending row (TilePipeline): its sums at %[pacc] + 64 h plus the offset at %[poff],
// requantized with embedded broadcasts of the Requantizer at %[prq] (zmm0-18 belong to the
// loop this runs inside). Shifts by per-lane counts: a shift by an xmm count takes half a
// cycle from a vpdpbusd port here (scratch loop), and with it the pipelined 256^3 ran 2-2.5%
// slower (in-process A/B).
#define DYAD_QPEND_HALF(h, at)                                                                     \
  "vpbroadcastd (%[poff]), %%zmm26\n\t"                                                           \
  "vpaddd " h "(%[pacc]), %%zmm26, %%zmm26\n\t"                                                   \
  DYAD_QREQUANT16("%%zmm26", "(%[prq])%{1to8%}", "8(%[prq])%{1to8%}", "vpsravq", "16(%[prq])%{1to8%}", \
                  "24(%[prq])%{1to8%}", "32(%[prq])%{1to16%}", "36(%[prq])%{1to16%}", at)
// One pending row, finished inside the next tile's k loop; each pointer then moves to the next
// row.
#define DYAD_QPEND_BYTES_ROW                   \
  DYAD_QPEND_HALF("0", "0")                    \
  DYAD_QPEND_HALF("64", "16")                  \
  "add $128, %[pacc]\n\t"                     \
  "add $4, %[poff]\n\t"                       \
  "add $48, %[prq]\n\t"                       \
  "add %[row_bytes], %[py]\n\t"
// A pipelined tile: groups of eight k steps, each followed by one pending row while rows are
// pending (%[during] groups), then the remaining k steps one by one, then the rows still
// pending (%[after]: when k is short), then the new sums spilled to %[acc].
#define DYAD_QPIPELINED_TILE(ROW)                                                                        \
  DYAD_QTILE_ZERO                                                                                        \
  "test %[during], %[during]\n\t"                                                                        \
  "jz 3f\n\t"                                                                                            \
  ".p2align 6\n\t"                                                                                       \
  "2:\n\t"                                                                                               \
  DYAD_QSTEP_PACKED("0") DYAD_QSTEP_PACKED("1") DYAD_QSTEP_PACKED("2") DYAD_QSTEP_PACKED("3")            \
  DYAD_QSTEP_PACKED("4") DYAD_QSTEP_PACKED("5") DYAD_QSTEP_PACKED("6") DYAD_QSTEP_PACKED("7")            \
  ROW                                                                                                    \
  "add $1024, %[px]\n\t"                                                                                 \
  "add $256, %[pw]\n\t"                                                                                  \
  "dec %[during]\n\t"                                                                                    \
  "jnz 2b\n\t"                                                                                           \
  "3:\n\t"                                                                                               \
  "cmp %[end], %[pw]\n\t"                                                                                \
  "je 4f\n\t"                                                                                            \
  DYAD_QTILE_PACKED_LOOP                                                                                 \
  "4:\n\t"                                                                                               \
  "test %[after], %[after]\n\t"                                                                          \
  "jz 6f\n\t"                                                                                            \
  "5:\n\t"                                                                                               \
  ROW                                                                                                    \
  "dec %[after]\n\t"                                                                                     \
  "jnz 5b\n\t"                                                                                           \
  "6:\n\t"                                                                                               \
  DYAD_QTILE_SPILL
#define DYAD_QTILE_CLOBBERS                                                                              \
  "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", \
      "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "memory"

// One 32-column tile, lanes [lane_begin, lane_end) of it stored. kPacked: quad kk's 32 columns
// at `packed + 128 kk`, consecutive memory (a Tiled layout's chunk, or a copy the driver made).
// Otherwise quad kk is read in place at quads[kk] + offset, under lane masks when the tile is
// partial (kMasked). All eight rows are computed (a partial panel's missing rows have zero
// weights); only the valid ones are stored.
template <bool kPacked, bool kMasked>
void tile(const int8_t* panel, int64_t k4, const uint8_t* packed, const uint8_t* const* quads, int64_t offset, const PanelStage& stage,
          int64_t rows, int64_t row0, int64_t col_base, int64_t lane_begin, int64_t lane_end, const TileRuns* runs, const OutputStage& out,
          FinishFn finish) {
  alignas(64) __m512i acc[16];
  const int8_t* pw = panel;
  const int8_t* const pw_end = panel + k4 * kVnniRows * 4;
  if (kPacked && rows == kVnniRows && lane_begin == 0 && lane_end == kVnniCols && out.output == QOutput::Int32 &&
      out.stage.column_pitch == 0) {
    // A whole tile of int32 sums: the epilogue is an add and two stores per row, done in the
    // asm from the registers (the spill, reload and call cost 7% of a 256^3 product). Not
    // pipelined like bytes (TilePipeline): for int32 that measured -0.9% to +0.6% (in-process
    // A/B on 256^3, 1024^3, res2 and res3). The output stores are what this epilogue costs
    // (left out in an A/B: 2.5-4.5% of 256^3, 1024^3 and res2, 0.6-1.8% of res3; the adds cost
    // nothing). Prefetching the lines for writing did not help; non-temporal stores gained 1-2%
    // but would send the sums past the caches the next layer reads them from.
    const uint8_t* px = packed;
    int32_t* py = static_cast<int32_t*>(out.y) + row0 * out.ldy + col_base;
    const int64_t row_bytes = out.ldy * 4;
    asm volatile(DYAD_QTILE_ZERO
        DYAD_QTILE_PACKED_LOOP
        DYAD_QTILE_STORE_ROW("0", "0", "1") DYAD_QTILE_STORE_ROW("4", "2", "3") DYAD_QTILE_STORE_ROW("8", "4", "5")
        DYAD_QTILE_STORE_ROW("12", "6", "7") DYAD_QTILE_STORE_ROW("16", "8", "9") DYAD_QTILE_STORE_ROW("20", "10", "11")
        DYAD_QTILE_STORE_ROW("24", "12", "13") DYAD_QTILE_STORE_ROW("28", "14", "15")
        : [pw] "+r"(pw), [px] "+r"(px), [py] "+r"(py)
        : [end] "r"(pw_end), [offsets] "r"(stage.offset), [row_bytes] "r"(row_bytes)
        : DYAD_QTILE_CLOBBERS);
    return;
  }
  if (kPacked && stage.all_folded && lane_begin == 0 && lane_end == kVnniCols && out.stage.column_pitch == 0) {
    // A whole tile of bytes whose rows all take requantize16's kFolded form, finished in the asm
    // from the registers: products whose activations are copied tile by tile (Strided or
    // Indirect); Tiled ones go through TilePipeline, which takes every such tile.
    const uint8_t* px = packed;
    uint8_t* py = static_cast<uint8_t*>(out.y) + row0 * out.ldy + col_base;
    const int64_t row_bytes = out.ldy;
    const __mmask16 odd_lanes = 0xAAAA;
    asm volatile(DYAD_QTILE_ZERO
        DYAD_QTILE_PACKED_LOOP
        DYAD_QTILE_REQUANT_ROW("0", "0", "0", "1") DYAD_QTILE_REQUANT_ROW("4", "48", "2", "3")
        DYAD_QTILE_REQUANT_ROW("8", "96", "4", "5") DYAD_QTILE_REQUANT_ROW("12", "144", "6", "7")
        DYAD_QTILE_REQUANT_ROW("16", "192", "8", "9") DYAD_QTILE_REQUANT_ROW("20", "240", "10", "11")
        DYAD_QTILE_REQUANT_ROW("24", "288", "12", "13") DYAD_QTILE_REQUANT_ROW("28", "336", "14", "15")
        : [pw] "+r"(pw), [px] "+r"(px), [py] "+r"(py)
        : [end] "r"(pw_end), [offsets] "r"(stage.offset), [rq] "r"(stage.requantizer), [row_bytes] "r"(row_bytes),
          [odd] "Yk"(odd_lanes)
        : DYAD_QTILE_CLOBBERS, "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26");
    return;
  }
  if (kPacked) {
    const uint8_t* px = packed;
#define DYAD_QTILE_PACKED_SPILLED(LOOP)      \
  asm volatile(DYAD_QTILE_ZERO LOOP DYAD_QTILE_SPILL \
               : [pw] "+r"(pw), [px] "+r"(px)         \
               : [end] "r"(pw_end), [acc] "r"(acc)    \
               : DYAD_QTILE_CLOBBERS)
    // Half the products when the stored lanes are all in the first sixteen: the last tile of a
    // product whose width leaves at most sixteen columns (784 = 24 x 32 + 16 in ResNet's res3).
    if (lane_end <= kVnniCols / 2)
      DYAD_QTILE_PACKED_SPILLED(DYAD_QTILE_PACKED_HALF_LOOP);
    else
      DYAD_QTILE_PACKED_SPILLED(DYAD_QTILE_PACKED_LOOP);
#undef DYAD_QTILE_PACKED_SPILLED
  } else {
    const uint8_t* const* q = quads;
    const uint8_t* px;
    if (kMasked) {
      const __mmask16 m0 = lane_mask(lane_end), m1 = lane_mask(lane_end - 16);
      asm volatile(DYAD_QTILE_ZERO
          DYAD_QTILE_INDIRECT_LOOP("vmovdqu32 (%[px],%[off]), %%zmm16%{%[m0]%}%{z%}\n\t"
                                   "vmovdqu32 64(%[px],%[off]), %%zmm17%{%[m1]%}%{z%}\n\t")
          DYAD_QTILE_SPILL
          : [pw] "+r"(pw), [q] "+r"(q), [px] "=&r"(px)
          : [end] "r"(pw_end), [off] "r"(offset), [m0] "Yk"(m0), [m1] "Yk"(m1), [acc] "r"(acc)
          : DYAD_QTILE_CLOBBERS);
    } else {
      asm volatile(DYAD_QTILE_ZERO
          DYAD_QTILE_INDIRECT_LOOP("vmovdqu64 (%[px],%[off]), %%zmm16\n\t"
                                   "vmovdqu64 64(%[px],%[off]), %%zmm17\n\t")
          DYAD_QTILE_SPILL
          : [pw] "+r"(pw), [q] "+r"(q), [px] "=&r"(px)
          : [end] "r"(pw_end), [off] "r"(offset), [acc] "r"(acc)
          : DYAD_QTILE_CLOBBERS);
    }
  }
  finish(acc, stage, rows, row0, col_base, lane_begin, lane_end, runs, out);
}

// Whole tiles (eight rows, all 32 lanes, consecutive output columns) of bytes whose rows all
// take requantize16's kFolded form, finished one tile late: each tile's rows are finished inside
// the next tile's k loop, one row per eight k steps, and the last tile by flush(). Finished
// after their own loop instead (DYAD_QTILE_REQUANT_ROW), the ~200 operations waiting on the last
// sums hold back the next tile's products: a scratch driver repeating one tile of a 256^3
// product measured that epilogue at 7-16% of the tile, and 3-7% interleaved. Threads that
// share rows by columns pipeline too: limited to calls writing whole rows, two threads splitting
// 256^3, 1024^3, res2 and res3 by columns ran 2-5% slower than with it (uint8 output; both
// builds in one scratch driver, calls alternated 40 times), even with the threads' columns
// meeting inside a cache line (res2, and 256^3 with its output 16 bytes off a line); inside
// qgemm_vs_onednn, the two alternated in one run, 1-4%; while this host's second core ran slow,
// no difference either way. An earlier scratch driver had found the opposite (9% slower), for
// reasons not found again.
class TilePipeline {
 public:
  TilePipeline(const OutputStage& out, FinishFn finish) : out_(out), finish_(finish) {}
  TilePipeline(const TilePipeline&) = delete;
  TilePipeline& operator=(const TilePipeline&) = delete;

  // The output stage of the panel at row0, kept in the slot the pending tile's panel does not
  // use (the pending tile is in this panel or the one before).
  const PanelStage& begin_panel(int64_t row0, int64_t rows) {
    slot_ ^= 1;
    fill_panel_stage(out_, row0, rows, stages_[slot_]);
    return stages_[slot_];
  }

  bool takes(const PanelStage& stage, int64_t rows, int64_t lane_begin, int64_t lane_end) const {
    return rows == kVnniRows && lane_begin == 0 && lane_end == kVnniCols && out_.stage.column_pitch == 0 && stage.all_folded;
  }

  // Computes the tile at (row0, col_base) from its weight panel and packed activations (a tile
  // takes() accepted, with a stage from begin_panel), finishing the pending tile on the way.
  void run(const int8_t* panel, int64_t k4, const uint8_t* packed, const PanelStage& stage, int64_t row0, int64_t col_base) {
    const int8_t* pw = panel;
    const int8_t* const pw_end = panel + k4 * kVnniRows * 4;
    const uint8_t* px = packed;
    const int64_t pending_rows = pending_ ? kVnniRows : 0;
    int64_t during = std::min(pending_rows, k4 / 8), after = pending_rows - during;
    const uint8_t* pacc = reinterpret_cast<const uint8_t*>(acc_);
    const int32_t* poff = pending_ ? pending_->offset : nullptr;
    uint8_t* py = pending_ ? static_cast<uint8_t*>(out_.y) + row0_ * out_.ldy + col_base_ : nullptr;
    const Requantizer* prq = pending_ ? pending_->requantizer : nullptr;
    const __mmask16 odd_lanes = 0xAAAA;
    // Early-clobber ("+&"): pacc starts equal to acc_, and GCC gave both one register, so the
    // spill at the end wrote over the object.
    asm volatile(DYAD_QPIPELINED_TILE(DYAD_QPEND_BYTES_ROW)
        : [pw] "+&r"(pw), [px] "+&r"(px), [pacc] "+&r"(pacc), [poff] "+&r"(poff), [prq] "+&r"(prq), [py] "+&r"(py), [during] "+&r"(during),
          [after] "+&r"(after)
        : [end] "r"(pw_end), [acc] "r"(acc_), [row_bytes] "r"(out_.ldy), [odd] "Yk"(odd_lanes)
        : DYAD_QTILE_CLOBBERS, "xmm25", "xmm26");
    pending_ = &stage;
    row0_ = row0;
    col_base_ = col_base;
  }

  // Finishes the pending tile, if any: before a tile run() does not take, and at the end.
  void flush() {
    if (pending_) finish_(acc_, *pending_, kVnniRows, row0_, col_base_, 0, kVnniCols, nullptr, out_);
    pending_ = nullptr;
  }

 private:
  alignas(64) __m512i acc_[16];  // the pending tile's sums, as DYAD_QTILE_SPILL leaves them
  const OutputStage& out_;
  const FinishFn finish_;
  PanelStage stages_[2];
  int slot_ = 0;
  const PanelStage* pending_ = nullptr;  // the pending tile's panel stage; null when none
  int64_t row0_ = 0, col_base_ = 0;
};

#undef DYAD_QROW_ASM
#undef DYAD_QTILE_ASM
#undef DYAD_QTILE_ZERO
#undef DYAD_QTILE_SPILL
#undef DYAD_QTILE_CLOBBERS
#undef DYAD_QTILE_ASM_AT
#undef DYAD_QSTEP_PACKED
#undef DYAD_QTILE_PACKED_LOOP
#undef DYAD_QTILE_PACKED_HALF_LOOP
#undef DYAD_QTILE_INDIRECT_LOOP
#undef DYAD_QTILE_STORE_ROW
#undef DYAD_QREQUANT16
#undef DYAD_QTILE_REQUANT_ROW
#undef DYAD_QPEND_HALF
#undef DYAD_QPEND_BYTES_ROW
#undef DYAD_QPIPELINED_TILE

using TileFn = void (*)(const int8_t*, int64_t, const uint8_t*, const uint8_t* const*, int64_t, const PanelStage&, int64_t, int64_t,
                       int64_t, int64_t, int64_t, const TileRuns*, const OutputStage&, FinishFn);

// Copies columns [col0, col0 + cols) of every quad into [k4][32 columns][4] at `dst`.
void pack_tile(const uint8_t* const* quads, int64_t k4, int64_t col0, int64_t cols, uint8_t* dst) {
  const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
  for (int64_t kk = 0; kk < k4; ++kk, dst += kVnniCols * 4) {
    const uint8_t* src = quads[kk] + col0 * 4;
    if (m1 == 0xFFFF) {
      _mm512_storeu_si512(dst, _mm512_loadu_si512(src));
      _mm512_storeu_si512(dst + 64, _mm512_loadu_si512(src + 64));
    } else {
      _mm512_storeu_si512(dst, _mm512_maskz_loadu_epi32(m0, src));
      _mm512_storeu_si512(dst + 64, _mm512_maskz_loadu_epi32(m1, src + 64));
    }
  }
}

// In place: [masked]; a copied tile or a Tiled chunk is whole (pack_tile zero-fills).
constexpr TileFn kInPlaceTiles[2] = {tile<false, false>, tile<false, true>};
constexpr TileFn kPackedTile = tile<true, false>;

// Column blocks whose activations (4 k4 bytes per column) fit in half of a 1 MiB L2: each
// 8-row weight panel then stays in L1 across the block's 32-column tiles, instead of the whole
// weight matrix streaming by once per tile.
int64_t block_columns(int64_t k4) { return std::max<int64_t>(kVnniCols, (int64_t{512} * 1024 / (4 * k4)) / kVnniCols * kVnniCols); }

// The Tiled layout: each 32-column chunk's quads are already consecutive, so tiles read them
// where they are. A chunk that [n_begin, n_end) covers in part is computed whole (its other
// columns exist: zeros past N, or another caller's) and stored in part. kPipelined: whole tiles
// of bytes go through a TilePipeline; without it, the driver is as it was before the pipeline
// (with the pipeline's driver, int32 products on two threads measured 2-5% slower).
template <bool kPipelined>
void tiled_product(const QPackedWeights& w, const QActivationAddressing& x, int64_t k4, int64_t m_begin, int64_t m_end, int64_t n_begin,
                   int64_t n_end, const OutputStage& out, FinishFn finish) {
  const int64_t chunk_begin = n_begin / kVnniCols, chunk_end = (n_end + kVnniCols - 1) / kVnniCols;
  const int64_t block = block_columns(k4) / kVnniCols;
  thread_local std::vector<TileRuns> runs;  // per tile of the block, when the output drops columns
  std::optional<TilePipeline> pipeline;
  if constexpr (kPipelined) pipeline.emplace(out, finish);
  for (int64_t block0 = chunk_begin; block0 < chunk_end; block0 += block) {
    const int64_t block_end = std::min(chunk_end, block0 + block);
    auto lanes_of = [&](int64_t c) {
      return std::pair<int64_t, int64_t>{std::max<int64_t>(n_begin - c * kVnniCols, 0), std::min<int64_t>(n_end - c * kVnniCols, kVnniCols)};
    };
    if (out.stage.column_pitch != 0) {
      runs.clear();
      for (int64_t c = block0; c < block_end; ++c) runs.push_back(tile_runs(out.stage, c * kVnniCols, lanes_of(c).first, lanes_of(c).second));
    }
    for (int64_t row0 = m_begin; row0 < m_end; row0 += kVnniRows) {
      const int64_t rows = std::min<int64_t>(kVnniRows, m_end - row0);
      const int8_t* panel = w.data.data() + (row0 / kVnniRows) * k4 * kVnniRows * 4;
      PanelStage local_stage;
      if constexpr (!kPipelined) fill_panel_stage(out, row0, rows, local_stage);
      const PanelStage& panel_out = kPipelined ? pipeline->begin_panel(row0, rows) : local_stage;
      for (int64_t c = block0; c < block_end; ++c) {
        const int64_t col_base = c * kVnniCols;
        const uint8_t* packed = x.quads[0] + x.chunk_offset(col_base);
        const auto [lane_begin, lane_end] = lanes_of(c);
        if constexpr (kPipelined) {
          if (pipeline->takes(panel_out, rows, lane_begin, lane_end)) {
            pipeline->run(panel, k4, packed, panel_out, row0, col_base);
            continue;
          }
          pipeline->flush();
        }
        const TileRuns* tile_run = out.stage.column_pitch != 0 ? &runs[static_cast<size_t>(c - block0)] : nullptr;
        kPackedTile(panel, k4, packed, x.quads, 0, panel_out, rows, row0, col_base, lane_begin, lane_end, tile_run, out, finish);
      }
    }
  }
  if constexpr (kPipelined) pipeline->flush();
}

}  // namespace

void qu8_qs8_gemm_8x32c4__avx512vnni(const QPackedWeights& w, const QActivationAddressing& x, int32_t x_zero_point,
                                     const int32_t* bias, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output,
                                     const QOutputStage& stage, void* y, int64_t ldy) {
  const OutputStage out{w, x_zero_point, bias, output, stage, y, ldy};
  const FinishFn finish = finish_for(out);
  const int64_t k4 = (w.k + 3) / 4;
  if (x.tiled()) {
    if (output != QOutput::Int32)
      return tiled_product<true>(w, x, k4, m_begin, m_end, n_begin, n_end, out, finish);
    return tiled_product<false>(w, x, k4, m_begin, m_end, n_begin, n_end, out, finish);
  }
  // Strided or indirect quads, each a whole row of activations apart. The tiles' activations
  // are copied, block by block, into consecutive memory when enough weight panels reuse them (it
  // pays once four do): read in place, the k steps of a tile jump from row to row (with N =
  // 1024 every step mapped to the same L1 set and evicted the last).
  const int64_t block = block_columns(k4);
  const bool pack = (m_end - m_begin + kVnniRows - 1) / kVnniRows >= 4;
  const uint8_t* const* quads = x.quads;
  thread_local std::vector<uint8_t> packed_storage;
  const size_t tile_bytes = static_cast<size_t>(k4 * kVnniCols * 4);
  const size_t needed = pack ? tile_bytes * static_cast<size_t>((std::min(block, n_end - n_begin) + kVnniCols - 1) / kVnniCols) : 0;
  if (packed_storage.size() < needed) packed_storage.resize(needed);
  uint8_t* const packed = packed_storage.data();
  thread_local std::vector<TileRuns> runs;  // per tile of the block, when the output drops columns
  for (int64_t block0 = n_begin; block0 < n_end; block0 += block) {
    const int64_t block_end = n_end - block0 < block ? n_end : block0 + block;
    if (pack)
      for (int64_t col0 = block0; col0 < block_end; col0 += kVnniCols)
        pack_tile(quads, k4, col0, std::min<int64_t>(kVnniCols, block_end - col0), packed + (col0 - block0) / kVnniCols * tile_bytes);
    if (stage.column_pitch != 0) {
      runs.clear();
      for (int64_t col0 = block0; col0 < block_end; col0 += kVnniCols) runs.push_back(tile_runs(stage, col0, 0, std::min<int64_t>(kVnniCols, block_end - col0)));
    }
    for (int64_t row0 = m_begin; row0 < m_end; row0 += kVnniRows) {
      const int64_t rows = m_end - row0 < kVnniRows ? m_end - row0 : kVnniRows;
      const int8_t* panel = w.data.data() + (row0 / kVnniRows) * k4 * kVnniRows * 4;
      const PanelStage panel_out = panel_stage(out, row0, rows);
      for (int64_t col0 = block0; col0 < block_end; col0 += kVnniCols) {
        const int64_t cols = block_end - col0 < kVnniCols ? block_end - col0 : kVnniCols;
        const TileFn fn = pack ? kPackedTile : kInPlaceTiles[cols < kVnniCols];
        const TileRuns* tile_run = stage.column_pitch != 0 ? &runs[static_cast<size_t>((col0 - block0) / kVnniCols)] : nullptr;
        fn(panel, k4, packed + (col0 - block0) / kVnniCols * tile_bytes, quads, col0 * 4, panel_out, rows, row0, col0, 0, cols, tile_run,
           out, finish);
      }
    }
  }
}

}  // namespace dyad::qgemm_detail
