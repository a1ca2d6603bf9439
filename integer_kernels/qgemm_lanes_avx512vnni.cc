// qu8_qs8_gemm_64x6c4__avx512vnni: the RowsInLanes layout's kernel (QWeightLayout). A register
// tile is 64 weight rows, in four vectors of sixteen, times up to 6 activation columns, each
// column's four k broadcast to every lane: 24 accumulators, 4 loads and 6 broadcasts per 24
// vpdpbusd. Where the other kernel puts 32 columns in lanes, this one fills its lanes whatever
// the column count, which is what a late convolution's few output pixels (49 at 7 x 7) need.
//
// Activations Tiled for this kernel are six columns wide, one register tile per chunk, whose k
// steps are 24 consecutive bytes; five such tiles make a group of 30 columns. Otherwise (Tiled
// 32 wide, Strided, Indirect) a tile's columns lie in one 32-column chunk (in a Tiled layout
// they are consecutive only there), so a chunk is cut into tiles of 6, 6, 5, 5, 5 and 5. Each
// tile runs the whole of k with its sums in registers, reading the panel's weights from L2
// (blocks of k that fit there, for a very long k); the sums then wait in a buffer, one column of
// 64 rows after another. When the group is done, the buffer is transposed to rows of 32 columns,
// which the other kernel's epilogue (qgemm_epilogue_avx512.h) finishes: per-row requantization
// constants and row stores, where finishing each column vector (per-lane constants and a
// scatter per vector) had cost about 6% of the time. That epilogue still costs 2.8-5% of
// ResNet's res4 product (in-process A/B with it left out; the transpose 1-1.4% of it), most of
// it in instructions: with every row stored to one line instead, 0.4-0.8% less.
//
// A transposed output (QOutputStage::transposed, a MatMul's and oneDNN's layout) needs none of
// that: each column's 64 sums are 64 consecutive elements of Y, finished in their lanes with
// per-lane constants and stored as they are. Whole panels go further. int32 sums start at the
// rows' offsets and the k loop stores them straight from its registers, where spilling them and
// adding the offsets afterwards had cost 256^3 about 12% (0.85x oneDNN in its own layout
// against 0.97x, one thread). Bytes whose rows all take the folded requantization are finished
// one tile late, a column every eighth k step of the next tile's loop, in the two vector
// registers it leaves free, with each lane's constants as memory operands: finished after their
// own loop (about thirteen vector operations per sixteen outputs, waiting on the last sums),
// 256^3 ran at 0.78x oneDNN and res2 at 0.88x; pipelined, 0.97x and 0.99x.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "integer_kernels/qgemm_epilogue_avx512.h"
#include "integer_kernels/qgemm_internal.h"

namespace dyad::qgemm_detail {

namespace {

// k steps (quads) per block: 512 KiB of a panel's weights and 256 KiB of a chunk's activations,
// which a 1 MiB L2 keeps for the chunk's six tiles. Blocks sized for L1 instead (64 steps: 16
// and 8 KiB), whose tiles spill and reload their sums every 64 steps, ran ResNet's res4 and res5
// at 0.91-0.98x oneDNN, against 0.95-1.01x (qgemm_vs_onednn, one thread, three runs in turn).
constexpr int64_t kBlockQuads = 2048;
constexpr int64_t kChunk = QPackedActivations::kTileColumns;
static_assert(kLaneCols == QPackedActivations::kNarrowTileColumns, "a narrow Tiled chunk is one register tile");

// The k loop, inline asm with fixed registers: accumulators zmm(4c + g) for column c and row
// group g, weights zmm24-27, broadcasts zmm28-29 (as in the other kernel, GCC 12 copies
// accumulators between registers when they are intrinsics, and an asm statement cannot name 24
// of them as operands). Each k step reads the four weight vectors, then for each column the
// four bytes at its quad, px + off + 4c. The sums start (kStart) at zero, at the sums so far in
// %[acc] (column c's four vectors at 256c), or at the rows' output offsets (%[offs], four
// vectors); they end in %[acc], or (kStore) as int32 in Y stored transposed: column c's 64 rows
// at %[y] + c * %[ld] bytes, the addresses of columns 3 and 5 from %[y3] = %[y] + 3 %[ld].
// Rows addressing (QActivationLayout::Rows, A's rows read in place): column c's four bytes at
// px + c * stride, the stride in %[step] and px + 3 * stride in %[q] (neither is otherwise
// used then), both pointers stepping four bytes.
#define DYAD_LANE_COLUMN(offset, row_address, b, a0, a1, a2, a3)   \
  ".if %c[mode] == 2\n\t"                                         \
  "vpbroadcastd " row_address ", %%zmm" b "\n\t"                  \
  ".else\n\t"                                                     \
  "vpbroadcastd " offset "(%[px],%[off]), %%zmm" b "\n\t"         \
  ".endif\n\t"                                                    \
  "vpdpbusd %%zmm24, %%zmm" b ", %%zmm" a0 "\n\t"                  \
  "vpdpbusd %%zmm25, %%zmm" b ", %%zmm" a1 "\n\t"                  \
  "vpdpbusd %%zmm26, %%zmm" b ", %%zmm" a2 "\n\t"                  \
  "vpdpbusd %%zmm27, %%zmm" b ", %%zmm" a3 "\n\t"
#define DYAD_LANE_C0 DYAD_LANE_COLUMN("0", "(%[px])", "28", "0", "1", "2", "3")
#define DYAD_LANE_C1 DYAD_LANE_COLUMN("4", "(%[px],%[step],1)", "29", "4", "5", "6", "7")
#define DYAD_LANE_C2 DYAD_LANE_COLUMN("8", "(%[px],%[step],2)", "28", "8", "9", "10", "11")
#define DYAD_LANE_C3 DYAD_LANE_COLUMN("12", "(%[q])", "29", "12", "13", "14", "15")
#define DYAD_LANE_C4 DYAD_LANE_COLUMN("16", "(%[px],%[step],4)", "28", "16", "17", "18", "19")
#define DYAD_LANE_C5 DYAD_LANE_COLUMN("20", "(%[q],%[step],2)", "29", "20", "21", "22", "23")
#define DYAD_LANE_START1(r, g)                                                   \
  ".if %c[start] == 0\n\t"                                                       \
  "vpxord %%zmm" #r ", %%zmm" #r ", %%zmm" #r "\n\t"                             \
  ".elseif %c[start] == 1\n\t"                                                   \
  "vmovdqa64 " #r "*64(%[acc]), %%zmm" #r "\n\t"                                 \
  ".else\n\t"                                                                    \
  "vmovdqa64 " #g "*64(%[offs]), %%zmm" #r "\n\t"                                \
  ".endif\n\t"
#define DYAD_LANE_END1(r, g, addr)                     \
  ".if %c[store]\n\t"                                  \
  "vmovdqu32 %%zmm" #r ", " #g "*64" addr "\n\t"       \
  ".else\n\t"                                          \
  "vmovdqa64 %%zmm" #r ", " #r "*64(%[acc])\n\t"       \
  ".endif\n\t"
#define DYAD_LANE_START(c0, c1, c2, c3) DYAD_LANE_START1(c0, 0) DYAD_LANE_START1(c1, 1) DYAD_LANE_START1(c2, 2) DYAD_LANE_START1(c3, 3)
#define DYAD_LANE_END(c0, c1, c2, c3, addr) \
  DYAD_LANE_END1(c0, 0, addr) DYAD_LANE_END1(c1, 1, addr) DYAD_LANE_END1(c2, 2, addr) DYAD_LANE_END1(c3, 3, addr)
#define DYAD_LANE_L0 DYAD_LANE_START(0, 1, 2, 3)
#define DYAD_LANE_L1 DYAD_LANE_START(4, 5, 6, 7)
#define DYAD_LANE_L2 DYAD_LANE_START(8, 9, 10, 11)
#define DYAD_LANE_L3 DYAD_LANE_START(12, 13, 14, 15)
#define DYAD_LANE_L4 DYAD_LANE_START(16, 17, 18, 19)
#define DYAD_LANE_L5 DYAD_LANE_START(20, 21, 22, 23)
#define DYAD_LANE_S0 DYAD_LANE_END(0, 1, 2, 3, "(%[y])")
#define DYAD_LANE_S1 DYAD_LANE_END(4, 5, 6, 7, "(%[y],%[ld],1)")
#define DYAD_LANE_S2 DYAD_LANE_END(8, 9, 10, 11, "(%[y],%[ld],2)")
#define DYAD_LANE_S3 DYAD_LANE_END(12, 13, 14, 15, "(%[y3])")
#define DYAD_LANE_S4 DYAD_LANE_END(16, 17, 18, 19, "(%[y],%[ld],4)")
#define DYAD_LANE_S5 DYAD_LANE_END(20, 21, 22, 23, "(%[y3],%[ld],2)")
// Pipelined byte output (kPipe): one column of the pending tile's sums (64 rows at %[y3])
// finished and stored as bytes at %[y], in zmm30-31 and the loop's free issue slots: the folded
// requantization (requantize16's kFolded form) with each row's constants in its lane, read from
// %[offs] (PipeConstants: per group of sixteen rows, nine vectors of 64 bytes).
#define DYAD_LANE_FINISH_PENDING_COLUMN \
  "vmovdqa64 0(%[y3]), %%zmm31\n\t" \
  "vpaddd 512(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpsrlq $32, %%zmm31, %%zmm30\n\t" \
  "vpmuldq 64(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpmuldq 0(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpaddq 192(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpaddq 128(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpsravq 320(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpsravq 256(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpblendmd %%zmm30, %%zmm31, %%zmm31%{%[odd]%}\n\t" \
  "vpmaxsd 384(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpminsd 448(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpmovdb %%zmm31, %%xmm31\n\t" \
  "vmovdqu8 %%xmm31, 0(%[y])\n\t" \
  "vmovdqa64 64(%[y3]), %%zmm31\n\t" \
  "vpaddd 1088(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpsrlq $32, %%zmm31, %%zmm30\n\t" \
  "vpmuldq 640(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpmuldq 576(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpaddq 768(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpaddq 704(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpsravq 896(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpsravq 832(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpblendmd %%zmm30, %%zmm31, %%zmm31%{%[odd]%}\n\t" \
  "vpmaxsd 960(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpminsd 1024(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpmovdb %%zmm31, %%xmm31\n\t" \
  "vmovdqu8 %%xmm31, 16(%[y])\n\t" \
  "vmovdqa64 128(%[y3]), %%zmm31\n\t" \
  "vpaddd 1664(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpsrlq $32, %%zmm31, %%zmm30\n\t" \
  "vpmuldq 1216(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpmuldq 1152(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpaddq 1344(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpaddq 1280(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpsravq 1472(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpsravq 1408(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpblendmd %%zmm30, %%zmm31, %%zmm31%{%[odd]%}\n\t" \
  "vpmaxsd 1536(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpminsd 1600(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpmovdb %%zmm31, %%xmm31\n\t" \
  "vmovdqu8 %%xmm31, 32(%[y])\n\t" \
  "vmovdqa64 192(%[y3]), %%zmm31\n\t" \
  "vpaddd 2240(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpsrlq $32, %%zmm31, %%zmm30\n\t" \
  "vpmuldq 1792(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpmuldq 1728(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpaddq 1920(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpaddq 1856(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpsravq 2048(%[offs]), %%zmm30, %%zmm30\n\t" \
  "vpsravq 1984(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpblendmd %%zmm30, %%zmm31, %%zmm31%{%[odd]%}\n\t" \
  "vpmaxsd 2112(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpminsd 2176(%[offs]), %%zmm31, %%zmm31\n\t" \
  "vpmovdb %%zmm31, %%xmm31\n\t" \
  "vmovdqu8 %%xmm31, 48(%[y])\n\t"
#define DYAD_LANE_LOOP(LOADS, COLUMNS, SPILLS)                                                                      \
  asm volatile(LOADS                                                                                                \
               "1:\n\t"                                                                                             \
               ".if %c[mode] == 0\n\t"                                                                              \
               "mov (%[q]), %[px]\n\t"                                                                              \
               ".endif\n\t"                                                                                         \
               "vmovdqu64 (%[pw]), %%zmm24\n\t"                                                                     \
               "vmovdqu64 64(%[pw]), %%zmm25\n\t"                                                                   \
               "vmovdqu64 128(%[pw]), %%zmm26\n\t"                                                                  \
               "vmovdqu64 192(%[pw]), %%zmm27\n\t" COLUMNS                                                          \
               ".if %c[pipe]\n\t"                                                                                   \
               "test $0x700, %[pw]\n\t" /* one column every eighth k step */                                        \
               "jnz 2f\n\t"                                                                                         \
               "test %[cnt], %[cnt]\n\t"                                                                            \
               "jz 2f\n\t" DYAD_LANE_FINISH_PENDING_COLUMN                                                          \
               "add $256, %[y3]\n\t"                                                                                \
               "add %[ld], %[y]\n\t"                                                                                \
               "dec %[cnt]\n\t"                                                                                     \
               "2:\n\t"                                                                                             \
               ".endif\n\t"                                                                                         \
               ".if %c[mode] == 0\n\t"                                                                              \
               "add $8, %[q]\n\t"                                                                                   \
               ".elseif %c[mode] == 1\n\t"                                                                          \
               "add %[step], %[px]\n\t"                                                                             \
               ".else\n\t"                                                                                          \
               "add $4, %[px]\n\t"                                                                                  \
               "add $4, %[q]\n\t"                                                                                   \
               ".endif\n\t"                                                                                         \
               "add $256, %[pw]\n\t"                                                                                \
               "cmp %[end], %[pw]\n\t"                                                                              \
               "jne 1b\n\t" SPILLS                                                                                  \
               : [pw] "+r"(pw), [q] "+r"(q), [px] "+&r"(px), [y] "+&r"(ya), [y3] "+&r"(yb), [cnt] "+&r"(pending)       \
               : [end] "r"(pw_end), [off] "r"(offset), [step] "r"(step), [acc] "r"(acc), [offs] "r"(constants),     \
                 [ld] "r"(to.ld), [odd] "Yk"(odd_lanes), [start] "i"(static_cast<int>(kStart)),                     \
                 [store] "i"(kStore ? 1 : 0), [mode] "i"(static_cast<int>(kMode)), [pipe] "i"(kPipe ? 1 : 0)        \
               : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",    \
                 "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", \
                 "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31")

// Where a tile's sums start and where they go, past the k loop (see the loop above).
enum class SumsStart { Zero = 0, Sums = 1, Offsets = 2 };
struct StoreTarget {
  const int32_t* offsets = nullptr;  // the panel's 64 output offsets (SumsStart::Offsets)
  int32_t* y = nullptr;              // column 0's 64 rows (kStore)
  int64_t ld = 0;                    // bytes from one column of Y to the next (kStore, kPipe)
  // kPipe: the previous tile's columns, finished during this tile's k loop, one every eighth
  // step; the loop moves these past the columns it finished.
  const void* constants = nullptr;  // PipeConstants
  const int32_t* pending = nullptr;  // their sums, 64 per column
  uint8_t* pending_y = nullptr;      // the first one's place in Y
  int64_t pending_columns = 0;
};

// How a tile finds its columns' four bytes for k step kk: at quads[kk] + offset + 4c (Table:
// Strided or Indirect activations), the same with the quads `step` bytes apart (Tiled: the
// chunk width times 4; the loop steps a pointer instead of reading the table), or at quads[0] +
// offset + c * step + 4 kk (Rows: A's rows in place, `step` apart).
enum class Addressing { Table = 0, Tiled = 1, Rows = 2 };

// Adds to acc[4c + g] (column c of `columns`, 1 to 6; rows 16g..16g+15 of the panel) the
// products of `steps` k steps of the panel's weights (256 bytes each, from `panel`) with the
// activation bytes kMode addresses, the sums starting as kStart says and ending in acc, or in
// `to` (kStore).
template <SumsStart kStart, bool kStore, Addressing kMode, bool kPipe = false>
void accumulate(const int8_t* panel, int64_t steps, const uint8_t* const* quads, int64_t offset, int64_t step, int columns, __m512i* acc,
                StoreTarget& to) {
  const int8_t* pw = panel;
  const int8_t* const pw_end = panel + steps * kLaneRows * 4;
  const uint8_t* const* q = quads;
  const uint8_t* px = quads[0];
  if (kMode == Addressing::Rows) {  // %[q] holds column 3's address (DYAD_LANE_COLUMN)
    px += offset;
    // Integer arithmetic: a tile of fewer than four columns may have no row there.
    q = reinterpret_cast<const uint8_t* const*>(reinterpret_cast<uintptr_t>(px) + static_cast<uintptr_t>(3 * step));
    offset = 0;
  }
  // %[y] and %[y3]: Y's columns 0 and 3 (kStore; integer arithmetic, y is null otherwise), or
  // where the pending columns go and their sums (kPipe).
  uintptr_t ya = kPipe ? reinterpret_cast<uintptr_t>(to.pending_y) : reinterpret_cast<uintptr_t>(to.y);
  uintptr_t yb = kPipe ? reinterpret_cast<uintptr_t>(to.pending) : reinterpret_cast<uintptr_t>(to.y) + static_cast<uintptr_t>(3 * to.ld);
  int64_t pending = kPipe ? to.pending_columns : 0;
  const void* const constants = kPipe ? to.constants : to.offsets;
  const __mmask16 odd_lanes = 0xAAAA;
  switch (columns) {
    case 1: DYAD_LANE_LOOP(DYAD_LANE_L0, DYAD_LANE_C0, DYAD_LANE_S0); break;
    case 2: DYAD_LANE_LOOP(DYAD_LANE_L0 DYAD_LANE_L1, DYAD_LANE_C0 DYAD_LANE_C1, DYAD_LANE_S0 DYAD_LANE_S1); break;
    case 3:
      DYAD_LANE_LOOP(DYAD_LANE_L0 DYAD_LANE_L1 DYAD_LANE_L2, DYAD_LANE_C0 DYAD_LANE_C1 DYAD_LANE_C2,
                     DYAD_LANE_S0 DYAD_LANE_S1 DYAD_LANE_S2);
      break;
    case 4:
      DYAD_LANE_LOOP(DYAD_LANE_L0 DYAD_LANE_L1 DYAD_LANE_L2 DYAD_LANE_L3, DYAD_LANE_C0 DYAD_LANE_C1 DYAD_LANE_C2 DYAD_LANE_C3,
                     DYAD_LANE_S0 DYAD_LANE_S1 DYAD_LANE_S2 DYAD_LANE_S3);
      break;
    case 5:
      DYAD_LANE_LOOP(DYAD_LANE_L0 DYAD_LANE_L1 DYAD_LANE_L2 DYAD_LANE_L3 DYAD_LANE_L4,
                     DYAD_LANE_C0 DYAD_LANE_C1 DYAD_LANE_C2 DYAD_LANE_C3 DYAD_LANE_C4,
                     DYAD_LANE_S0 DYAD_LANE_S1 DYAD_LANE_S2 DYAD_LANE_S3 DYAD_LANE_S4);
      break;
    default:
      DYAD_LANE_LOOP(DYAD_LANE_L0 DYAD_LANE_L1 DYAD_LANE_L2 DYAD_LANE_L3 DYAD_LANE_L4 DYAD_LANE_L5,
                     DYAD_LANE_C0 DYAD_LANE_C1 DYAD_LANE_C2 DYAD_LANE_C3 DYAD_LANE_C4 DYAD_LANE_C5,
                     DYAD_LANE_S0 DYAD_LANE_S1 DYAD_LANE_S2 DYAD_LANE_S3 DYAD_LANE_S4 DYAD_LANE_S5);
      break;
  }
  if (kPipe) {
    to.pending_y = reinterpret_cast<uint8_t*>(ya);
    to.pending = reinterpret_cast<const int32_t*>(yb);
    to.pending_columns = pending;
  }
}

#undef DYAD_LANE_COLUMN
#undef DYAD_LANE_FINISH_PENDING_COLUMN
#undef DYAD_LANE_C0
#undef DYAD_LANE_C1
#undef DYAD_LANE_C2
#undef DYAD_LANE_C3
#undef DYAD_LANE_C4
#undef DYAD_LANE_C5
#undef DYAD_LANE_START1
#undef DYAD_LANE_END1
#undef DYAD_LANE_START
#undef DYAD_LANE_END
#undef DYAD_LANE_L0
#undef DYAD_LANE_L1
#undef DYAD_LANE_L2
#undef DYAD_LANE_L3
#undef DYAD_LANE_L4
#undef DYAD_LANE_L5
#undef DYAD_LANE_S0
#undef DYAD_LANE_S1
#undef DYAD_LANE_S2
#undef DYAD_LANE_S3
#undef DYAD_LANE_S4
#undef DYAD_LANE_S5
#undef DYAD_LANE_LOOP

// The chunk's sums, from columns of 64 rows (column c's row r at columns[c][r]) to rows of 32
// columns (row r's column c at rows[r][c]: rows[r] is the pair of vectors finish_rows reads),
// by 16 x 16 transposes in four rounds of unpacks and lane shuffles.
void transpose_chunk(const int32_t (*columns)[kLaneRows], int32_t (*rows)[kChunk]) {
  for (int r0 = 0; r0 < kLaneRows; r0 += 16)
    for (int c0 = 0; c0 < kChunk; c0 += 16) {
      __m512i v[16], t[16];
      for (int i = 0; i < 16; ++i) v[i] = _mm512_load_si512(columns[c0 + i] + r0);
      for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
      }
      for (int i = 0; i < 16; i += 4)
        for (int j = 0; j < 2; ++j) {
          v[i + 2 * j] = _mm512_unpacklo_epi64(t[i + j], t[i + j + 2]);
          v[i + 2 * j + 1] = _mm512_unpackhi_epi64(t[i + j], t[i + j + 2]);
        }
      // v[4b + j]: in its 128-bit lane l, columns 4b..4b+3 of row 4l + j. The lane shuffles
      // gather each row's four lanes in column order.
      for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; ++j) {
          t[i + j] = _mm512_shuffle_i32x4(v[i + j], v[i + j + 4], 0x88);
          t[i + j + 4] = _mm512_shuffle_i32x4(v[i + j], v[i + j + 4], 0xDD);
        }
      for (int j = 0; j < 8; ++j) {
        v[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        v[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xDD);
      }
      for (int i = 0; i < 16; ++i) _mm512_store_si512(rows[r0 + i] + c0, v[i]);
    }
}

// Columns of the product that are transposed and finished together (at most a chunk of 32,
// lanes [lane_begin, lane_end) of it stored from col_base), and the register tiles computing
// them: tile t's columns [column, column + width) of the group, read at `offset` from each quad.
struct ColumnGroup {
  struct Tile {
    int64_t column, width, offset;
  };
  int64_t col_base, lane_begin, lane_end;
  int tiles = 0;
  Tile tile[(kChunk + kLaneCols - 1) / kLaneCols];
  TileRuns runs;  // when the output drops columns
};

// The groups covering columns [n_begin, n_end). Activations Tiled six columns wide: five whole
// chunks per group (30 columns), each one tile, trimmed to the range. Otherwise 32-column chunks
// aligned as the activations' are, cut into tiles as even as the chunk allows (32 columns: 6, 6,
// 5, 5, 5, 5): a narrow tile spends its time loading the weights (four vectors for every two
// columns of a 2-wide one).
void column_groups(const QActivationAddressing& x, int64_t n_begin, int64_t n_end, const QOutputStage& stage,
                   std::vector<ColumnGroup>& groups) {
  groups.clear();
  const bool narrow = (x.tiled() || x.row_stride != 0) && x.tile_columns == kLaneCols;
  for (int64_t begin = n_begin, end; begin < n_end; begin = end) {
    ColumnGroup g;
    if (narrow) {
      g.col_base = begin / kLaneCols * kLaneCols;
      end = std::min(n_end, g.col_base + kChunk / kLaneCols * kLaneCols);
      for (int64_t first = begin; first < end; first = (first / kLaneCols + 1) * kLaneCols) {
        const int64_t last = std::min(end, (first / kLaneCols + 1) * kLaneCols);
        g.tile[g.tiles++] = {first - g.col_base, last - first, x.column_offset(first)};
      }
    } else {
      g.col_base = begin / kChunk * kChunk;
      end = std::min(n_end, g.col_base + kChunk);
      const int64_t span = end - begin, tiles = (span + kLaneCols - 1) / kLaneCols;
      for (int64_t t = 0, first = begin; t < tiles; ++t) {
        const int64_t width = span / tiles + (t < span % tiles ? 1 : 0);
        g.tile[g.tiles++] = {first - g.col_base, width, x.column_offset(first)};
        first += width;
      }
    }
    g.lane_begin = begin - g.col_base;
    g.lane_end = end - g.col_base;
    if (stage.column_pitch != 0) g.runs = tile_runs(stage, g.col_base, g.lane_begin, g.lane_end);
    groups.push_back(g);
  }
}

// A panel's output stage for a transposed output (QOutputStage::transposed), where each column
// of its sums is a run of Y and is finished in the lanes it was computed in: per-lane offsets,
// requantizers and masks for the panel's four vectors of sixteen rows.
struct TransposedPanel {
  int64_t row0;  // the panel's first row
  alignas(64) int32_t offsets[kLaneRows];
  __mmask16 stored[4];  // the rows this call stores
  LaneRequantizers requantizer[4];
  // int32 sums of all 64 rows, to consecutive columns: the k loop stores them itself, having
  // started them at the offsets (SumsStart::Offsets).
  bool stored_by_loop;
  // Bytes of all 64 rows, every row's requantization folded, to consecutive columns: each
  // tile's columns are finished during the next tile's k loop (kPipe), from these constants:
  // per group of sixteen rows, m, round and shift for even and odd rows, lo, hi and the offsets
  // (DYAD_LANE_FINISH_PENDING_COLUMN's layout).
  bool pipelined;
  alignas(64) uint8_t pipe_constants[4][9][64];
};

void fill_transposed_panel(const OutputStage& out, int64_t panel0, int64_t first, int64_t last, TransposedPanel& p) {
  p.row0 = panel0;
  // All 64 rows stored, to consecutive columns: the k loop may store int32 sums itself, and
  // finish bytes in a pipeline.
  const bool whole = out.stage.column_pitch == 0 && first == panel0 && last == panel0 + kLaneRows;
  p.stored_by_loop = out.output == QOutput::Int32 && whole;
  int32_t* const offsets = p.offsets;
  std::fill(offsets, offsets + kLaneRows, 0);
  Requantizer requantizers[kLaneRows];
  const QOutputStage& stage = out.stage;
  for (int64_t r = panel0; r < last; ++r) {  // rows before `first` too: their lanes are computed, not stored
    offsets[r - panel0] = static_cast<int32_t>(out.offset(r));
    if (out.output != QOutput::Int32)
      requantizers[r - panel0] = make_requantizer(stage.multipliers[r], stage.zero_point_of(r), stage.qmin, stage.qmax);
  }
  p.pipelined = out.output != QOutput::Int32 && whole;
  for (int g = 0; g < 4; ++g) {
    p.stored[g] = static_cast<__mmask16>(lane_mask(last - panel0 - 16 * g) & ~lane_mask(first - panel0 - 16 * g));
    const int used = static_cast<int>(std::clamp<int64_t>(last - panel0 - 16 * g, 0, 16));
    if (out.output == QOutput::Int32) continue;
    const LaneRequantizers& r = p.requantizer[g] = lane_requantizers(requantizers + 16 * g, used);
    p.pipelined = p.pipelined && r.folded;
    if (!p.pipelined) continue;
    const __m512i vectors[9] = {r.m_even, r.m_odd, r.round_even, r.round_odd, r.shift_even, r.shift_odd, r.lo, r.hi,
                                _mm512_load_si512(offsets + 16 * g)};
    for (int v = 0; v < 9; ++v) _mm512_store_si512(p.pipe_constants[g][v], vectors[v]);
  }
}

// The columns of a tile waiting to be finished during the next tile's k loop (pipelined bytes).
struct PendingColumns {
  const int32_t* sums = nullptr;  // 64 per column
  int64_t first = 0, count = 0;   // product columns [first, first + count)
};

// Finishes pending columns [done, count) here: those the k loop had no step left for.
void finish_pending(const PendingColumns& pending, int64_t done, const TransposedPanel& p, const OutputStage& out);

// Stores column j's sums (the panel's 64 rows) as Y's column column_of(j).
void finish_transposed_column(const int32_t* sums, int64_t j, const TransposedPanel& p, const OutputStage& out) {
  const int64_t col = out.stage.column_of(j);
  if (col < 0) return;
  const int64_t start = col * out.ldy + p.row0;
  for (int g = 0; g < 4; ++g) {
    if (p.stored[g] == 0) continue;
    const __m512i sum = _mm512_add_epi32(_mm512_load_si512(sums + 16 * g), _mm512_load_si512(p.offsets + 16 * g));
    if (out.output == QOutput::Int32) {
      _mm512_mask_storeu_epi32(element_at(out.y, start + 16 * g, 4), p.stored[g], sum);
    } else if (p.requantizer[g].folded) {  // uint8 and int8 store the same low bytes
      _mm_mask_storeu_epi8(element_at(out.y, start + 16 * g, 1), p.stored[g], low_bytes16(requantize16_lanes(sum, p.requantizer[g])));
    } else {  // a row whose multiplier the folded form cannot take: dyadic.h itself
      alignas(64) int32_t acc[16];
      _mm512_store_si512(acc, sum);
      for (int i = 0; i < 16; ++i)
        if (p.stored[g] >> i & 1) out.write(p.row0 + 16 * g + i, j, acc[i]);
    }
  }
}

void finish_pending(const PendingColumns& pending, int64_t done, const TransposedPanel& p, const OutputStage& out) {
  for (int64_t i = done; i < pending.count; ++i) finish_transposed_column(pending.sums + kLaneRows * i, pending.first + i, p, out);
}

using AccumulateFn = void (*)(const int8_t*, int64_t, const uint8_t* const*, int64_t, int64_t, int, __m512i*, StoreTarget&);

template <Addressing kMode>
AccumulateFn accumulate_for(SumsStart start, bool store) {
  switch (start) {
    case SumsStart::Zero: return store ? accumulate<SumsStart::Zero, true, kMode> : accumulate<SumsStart::Zero, false, kMode>;
    case SumsStart::Sums: return store ? accumulate<SumsStart::Sums, true, kMode> : accumulate<SumsStart::Sums, false, kMode>;
    default: return store ? accumulate<SumsStart::Offsets, true, kMode> : accumulate<SumsStart::Offsets, false, kMode>;
  }
}

AccumulateFn accumulate_for(Addressing mode, SumsStart start, bool store, bool pipe) {
  if (pipe)  // whole-k tiles of bytes: from zero, spilled
    return mode == Addressing::Table   ? accumulate<SumsStart::Zero, false, Addressing::Table, true>
           : mode == Addressing::Tiled ? accumulate<SumsStart::Zero, false, Addressing::Tiled, true>
                                       : accumulate<SumsStart::Zero, false, Addressing::Rows, true>;
  switch (mode) {
    case Addressing::Table: return accumulate_for<Addressing::Table>(start, store);
    case Addressing::Tiled: return accumulate_for<Addressing::Tiled>(start, store);
    default: return accumulate_for<Addressing::Rows>(start, store);
  }
}

}  // namespace

void qu8_qs8_gemm_64x6c4__avx512vnni(const QPackedWeights& w, const QActivationAddressing& x, int32_t x_zero_point,
                                     const int32_t* bias, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output,
                                     const QOutputStage& stage, void* y, int64_t ldy) {
  const OutputStage out{w, x_zero_point, bias, output, stage, y, ldy};
  const FinishFn finish = finish_for(out);
  const int64_t k4 = (w.k + 3) / 4;
  // A group's sums by column. A group narrower than 32 leaves columns unset, which the
  // transpose carries into lanes the epilogue masks off.
  // Two, one for every other group: pipelined tiles finish the previous group's last tile
  // during the next group's first.
  alignas(64) int32_t column_buffers[2][kChunk][kLaneRows];
  alignas(64) int32_t rows[kLaneRows][kChunk];
  thread_local std::vector<ColumnGroup> groups;  // the same for every panel
  column_groups(x, n_begin, n_end, stage, groups);
  const Addressing mode = x.row_stride != 0 ? Addressing::Rows : x.tiled() ? Addressing::Tiled : Addressing::Table;
  // From one quad to the next when Tiled; from one column to the next in Rows.
  const int64_t step = mode == Addressing::Rows ? x.row_stride : x.tile_columns * 4;
  // The panel's rows that are stored, by the epilogue's panels of eight: a row range that starts
  // or ends inside a panel computes the whole panel and stores its own rows.
  struct RowGroup {
    int64_t row, count;
    PanelStage stage;
  };
  RowGroup row_groups[kLaneRows / kVnniRows];
  for (int64_t panel0 = m_begin / kLaneRows * kLaneRows; panel0 < m_end; panel0 += kLaneRows) {
    const int64_t last = std::min({m_end, panel0 + kLaneRows, w.m});
    int row_group_count = 0;
    for (int64_t r = std::max(m_begin, panel0); r < last && !stage.transposed; r = (r / kVnniRows + 1) * kVnniRows) {
      const int64_t count = std::min(last, (r / kVnniRows + 1) * kVnniRows) - r;
      row_groups[row_group_count++] = RowGroup{r, count, panel_stage(out, r, count)};
    }
    TransposedPanel transposed;
    if (stage.transposed) fill_transposed_panel(out, panel0, std::max(m_begin, panel0), last, transposed);
    const int8_t* panel = w.data.data() + (panel0 / kLaneRows) * k4 * kLaneRows * 4;
    const bool pipelined = stage.transposed && transposed.pipelined && k4 <= kBlockQuads;
    const bool stored_by_loop = stage.transposed && transposed.stored_by_loop;
    PendingColumns pending;
    int parity = 0;
    for (const ColumnGroup& g : groups) {
      int32_t (*columns)[kLaneRows] = column_buffers[parity];
      parity ^= 1;
      if (pipelined) {
        for (int t = 0; t < g.tiles; ++t) {
          const ColumnGroup::Tile& tile = g.tile[t];
          StoreTarget to;
          to.ld = ldy;
          to.constants = transposed.pipe_constants;
          to.pending = pending.sums;
          to.pending_y = static_cast<uint8_t*>(element_at(y, pending.first * ldy + panel0, 1));
          to.pending_columns = pending.count;
          const uint8_t* const rows_start = x.quads[0];
          accumulate_for(mode, SumsStart::Zero, false, true)(panel, k4, mode == Addressing::Rows ? &rows_start : x.quads, tile.offset, step,
                                                             static_cast<int>(tile.width), reinterpret_cast<__m512i*>(columns[tile.column]), to);
          finish_pending(pending, pending.count - to.pending_columns, transposed, out);
          pending = {columns[tile.column], g.col_base + tile.column, tile.width};
        }
        continue;
      }
      for (int64_t kb = 0; kb < k4; kb += kBlockQuads) {
        const int64_t steps = std::min(kBlockQuads, k4 - kb);
        const int8_t* block = panel + kb * kLaneRows * 4;
        const SumsStart start = kb > 0 ? SumsStart::Sums : stored_by_loop ? SumsStart::Offsets : SumsStart::Zero;
        const bool store = stored_by_loop && kb + steps == k4;
        const AccumulateFn accumulate_tile = accumulate_for(mode, start, store, false);
        // Rows: the block's first byte of column 0 (the tile's offset adds its own column).
        const uint8_t* const rows_start = mode == Addressing::Rows ? x.quads[0] + 4 * kb : nullptr;
        const uint8_t* const* quads = mode == Addressing::Rows ? &rows_start : x.quads + kb;
        for (int t = 0; t < g.tiles; ++t) {
          const ColumnGroup::Tile& tile = g.tile[t];
          StoreTarget to{transposed.offsets};
          if (store) {
            to.y = static_cast<int32_t*>(element_at(y, (g.col_base + tile.column) * ldy + panel0, 4));
            to.ld = ldy * 4;
          }
          accumulate_tile(block, steps, quads, tile.offset, step, static_cast<int>(tile.width),
                          reinterpret_cast<__m512i*>(columns[tile.column]), to);
        }
      }
      if (stored_by_loop) continue;
      if (stage.transposed) {
        for (int t = 0; t < g.tiles; ++t)
          for (int64_t c = g.tile[t].column; c < g.tile[t].column + g.tile[t].width; ++c)
            finish_transposed_column(columns[c], g.col_base + c, transposed, out);
        continue;
      }
      transpose_chunk(columns, rows);
      const TileRuns* runs = stage.column_pitch != 0 ? &g.runs : nullptr;
      for (int r = 0; r < row_group_count; ++r)
        finish(reinterpret_cast<const __m512i*>(rows[row_groups[r].row - panel0]), row_groups[r].stage, row_groups[r].count,
               row_groups[r].row, g.col_base, g.lane_begin, g.lane_end, runs, out);
    }
    finish_pending(pending, 0, transposed, out);  // the panel's last tile (pipelined)
  }
}

}  // namespace dyad::qgemm_detail
