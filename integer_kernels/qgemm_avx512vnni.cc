// qu8_qs8_gemm_8x32c4__avx512vnni: 8 weight rows x 32 activation columns per register tile,
// four k per vpdpbusd (u8 activations x s8 weights, exact int32 sums, wrapping like the
// reference). Columns go in blocks sized for L2, each block's activations copied tile by tile
// into consecutive memory when enough weight rows reuse them. Epilogue: per row,
// acc += bias - z * rowsum, then requantize16 (requantize_avx512.h) and a truncating narrow to
// bytes, which is exact because the values are already in range.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "integer_kernels/qgemm_internal.h"
#include "integer_kernels/requantize_avx512.h"

namespace dyad::qgemm_detail {

// BW and VL too: this file and the depthwise kernel are compiled with them.
bool avx512vnni_cpu() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}

namespace {

inline __mmask16 lane_mask(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : count <= 0 ? 0 : static_cast<__mmask16>((1u << count) - 1);
}

// Where sixteen consecutive columns of the product land in a row of y: runs of lanes, each
// stored under its own mask at its own place. One run, unless the output drops wide columns
// (QOutputStage::column_pitch), where a run ends at each output row's last kept column.
struct LaneRuns {
  int count = 0;
  __mmask16 mask[17];  // at most one run per output row the sixteen lanes touch
  int64_t shift[17];   // lane i of run r lands at column shift[r] + i (shift may be negative)
};

inline LaneRuns lane_runs(const QOutputStage& stage, int64_t col, int64_t lanes) {
  LaneRuns runs;
  if (stage.column_pitch == 0) {
    runs.count = lanes > 0 ? 1 : 0;
    runs.mask[0] = lane_mask(lanes);
    runs.shift[0] = col;
    return runs;
  }
  const int64_t pitch = stage.column_pitch, kept = stage.kept_columns;
  int64_t r = col / pitch, c = col % pitch;  // output row and column of the lane below
  for (int64_t lane = 0; lane < lanes; ++r, c = 0) {
    const int64_t in_row = std::min(lanes - lane, pitch - c);  // lanes left in this output row
    if (c < kept) {
      const int64_t keep = std::min(in_row, kept - c);
      runs.mask[runs.count] = static_cast<__mmask16>(lane_mask(lane + keep) & ~lane_mask(lane));
      runs.shift[runs.count] = r * kept + c - lane;
      ++runs.count;
    }
    lane += in_row;
  }
  return runs;
}

// base + index elements, in integer arithmetic: with a negative shift the address of lane 0 can
// lie before y (its lane is masked off), which pointer arithmetic may not express.
inline void* element_at(void* base, int64_t index, int64_t bytes) {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(base) + static_cast<uintptr_t>(index * bytes));
}

struct Epilogue {
  const OutputStage& out;

  // Finishes sixteen columns of row `row`, stored as `runs` says.
  __attribute__((always_inline)) void store(__m512i acc, int64_t row, const LaneRuns& runs) const {
    acc = _mm512_add_epi32(acc, _mm512_set1_epi32(static_cast<int32_t>(out.offset(row))));
    const QOutput output = out.output;
    const int64_t row_start = row * out.ldy;
    const QOutputStage& stage = out.stage;
    if (output == QOutput::Int32) {
      for (int r = 0; r < runs.count; ++r) _mm512_mask_storeu_epi32(element_at(out.y, row_start + runs.shift[r], 4), runs.mask[r], acc);
      return;
    }
    // uint8 and int8 store the same low bytes: the values are already in range.
    const __m512i q = requantize16(acc, stage.multipliers[row], stage.zero_point_of(row), stage.qmin, stage.qmax);
    const __m128i bytes = _mm512_cvtepi32_epi8(q);  // narrowed in a register: vpmovdb to memory is slow on Zen 4
    for (int r = 0; r < runs.count; ++r) _mm_mask_storeu_epi8(element_at(out.y, row_start + runs.shift[r], 1), runs.mask[r], bytes);
  }
};

// acc += u8 x s8 in groups of four, as _mm512_dpbusd_epi32, in asm so that the accumulator is
// tied to its register: with the intrinsic GCC 12 copied accumulators between registers on
// every k step.
inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}

// Named accumulators (GCC 12 keeps an array of vectors in memory; named ones stay in registers).
#define DYAD_QROW_INIT(r) __m512i c##r##0 = _mm512_setzero_si512(), c##r##1 = _mm512_setzero_si512();
#define DYAD_QROW_DOT(r)                                   \
  {                                                        \
    int32_t packed;                                        \
    std::memcpy(&packed, pw + r * 4, 4);                   \
    const __m512i wv = _mm512_set1_epi32(packed);          \
    c##r##0 = dpbusd(c##r##0, b0, wv);                     \
    c##r##1 = dpbusd(c##r##1, b1, wv);                     \
  }
#define DYAD_QROW_STORE(r)                                 \
  if (r < kValidRows) {                                    \
    e.store(c##r##0, row0 + r, runs0);                     \
    if (m1) e.store(c##r##1, row0 + r, runs1);             \
  }

// The activations of one 32-column tile, quad kk at `packed + 128 kk`: copied there from the
// quads once per column block, so that the k steps of a tile read consecutive memory instead of
// addresses a whole row of activations apart (N * 4 bytes: with N = 1024 every step mapped to
// the same L1 set and evicted the last).
//
// One loop per instance (kMasked: a partial tile read in place, with masked loads): two loops
// in one function merged the accumulators afterwards, and GCC 12 then copied seven of them
// between registers on every k step.
template <int kValidRows, bool kPacked, bool kMasked>
void tile(const int8_t* panel, int64_t k4, const uint8_t* packed, const uint8_t* const* quads, int64_t row0, int64_t col0,
          int64_t cols, const Epilogue& e) {
  const __mmask16 m0 = lane_mask(cols), m1 = lane_mask(cols - 16);
  DYAD_QROW_INIT(0) DYAD_QROW_INIT(1) DYAD_QROW_INIT(2) DYAD_QROW_INIT(3)
  DYAD_QROW_INIT(4) DYAD_QROW_INIT(5) DYAD_QROW_INIT(6) DYAD_QROW_INIT(7)
  const int8_t* pw = panel;
  for (int64_t kk = 0; kk < k4; ++kk, pw += kVnniRows * 4) {
    const uint8_t* px = kPacked ? packed + kk * kVnniCols * 4 : quads[kk] + col0 * 4;
    const __m512i b0 = kMasked ? _mm512_maskz_loadu_epi32(m0, px) : _mm512_loadu_si512(px);
    const __m512i b1 = kMasked ? _mm512_maskz_loadu_epi32(m1, px + 64) : _mm512_loadu_si512(px + 64);
    DYAD_QROW_DOT(0) DYAD_QROW_DOT(1) DYAD_QROW_DOT(2) DYAD_QROW_DOT(3)
    DYAD_QROW_DOT(4) DYAD_QROW_DOT(5) DYAD_QROW_DOT(6) DYAD_QROW_DOT(7)
  }
  const LaneRuns runs0 = lane_runs(e.out.stage, col0, std::min<int64_t>(cols, 16)), runs1 = lane_runs(e.out.stage, col0 + 16, cols - 16);
  DYAD_QROW_STORE(0) DYAD_QROW_STORE(1) DYAD_QROW_STORE(2) DYAD_QROW_STORE(3)
  DYAD_QROW_STORE(4) DYAD_QROW_STORE(5) DYAD_QROW_STORE(6) DYAD_QROW_STORE(7)
}

#undef DYAD_QROW_INIT
#undef DYAD_QROW_DOT
#undef DYAD_QROW_STORE

using TileFn = void (*)(const int8_t*, int64_t, const uint8_t*, const uint8_t* const*, int64_t, int64_t, int64_t, const Epilogue&);

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

// [packed][valid rows] and [masked][valid rows] (a copied tile is whole: pack_tile zero-fills it).
#define DYAD_TILES(P, M) {nullptr, tile<1, P, M>, tile<2, P, M>, tile<3, P, M>, tile<4, P, M>, tile<5, P, M>, tile<6, P, M>, tile<7, P, M>, tile<8, P, M>}
constexpr TileFn kInPlaceTiles[2][kVnniRows + 1] = {DYAD_TILES(false, false), DYAD_TILES(false, true)};
constexpr TileFn kPackedTiles[kVnniRows + 1] = DYAD_TILES(true, false);
#undef DYAD_TILES

}  // namespace

void qu8_qs8_gemm_8x32c4__avx512vnni(const QPackedWeights& w, const uint8_t* const* quads, int32_t x_zero_point,
                                     const int32_t* bias, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output,
                                     const QOutputStage& stage, void* y, int64_t ldy) {
  const OutputStage out{w, x_zero_point, bias, output, stage, y, ldy};
  const Epilogue e{out};
  const int64_t k4 = (w.k + 3) / 4;
  // Column blocks whose packed activations (4 k4 bytes per column) fit in half of a 1 MiB L2:
  // each 8-row weight panel then stays in L1 across the block's 32-column tiles, instead of the
  // whole weight matrix streaming by once per tile.
  const int64_t block = std::max<int64_t>(kVnniCols, (int64_t{512} * 1024 / (4 * k4)) / kVnniCols * kVnniCols);
  // The copy costs one read and write of the block's activations, which pays once at least
  // four weight panels read them.
  const bool pack = (m_end - m_begin + kVnniRows - 1) / kVnniRows >= 4;
  thread_local std::vector<uint8_t> packed_storage;
  const size_t tile_bytes = static_cast<size_t>(k4 * kVnniCols * 4);
  const size_t needed = pack ? tile_bytes * static_cast<size_t>((std::min(block, n_end - n_begin) + kVnniCols - 1) / kVnniCols) : 0;
  if (packed_storage.size() < needed) packed_storage.resize(needed);
  uint8_t* const packed = packed_storage.data();
  for (int64_t block0 = n_begin; block0 < n_end; block0 += block) {
    const int64_t block_end = n_end - block0 < block ? n_end : block0 + block;
    if (pack)
      for (int64_t col0 = block0; col0 < block_end; col0 += kVnniCols)
        pack_tile(quads, k4, col0, std::min<int64_t>(kVnniCols, block_end - col0), packed + (col0 - block0) / kVnniCols * tile_bytes);
    for (int64_t row0 = m_begin; row0 < m_end; row0 += kVnniRows) {
      const int64_t rows = m_end - row0 < kVnniRows ? m_end - row0 : kVnniRows;
      const int8_t* panel = w.data.data() + (row0 / kVnniRows) * k4 * kVnniRows * 4;
      for (int64_t col0 = block0; col0 < block_end; col0 += kVnniCols) {
        const int64_t cols = block_end - col0 < kVnniCols ? block_end - col0 : kVnniCols;
        const TileFn fn = pack ? kPackedTiles[rows] : kInPlaceTiles[cols < kVnniCols][rows];
        fn(panel, k4, packed + (col0 - block0) / kVnniCols * tile_bytes, quads, row0, col0, cols, e);
      }
    }
  }
}

}  // namespace dyad::qgemm_detail
