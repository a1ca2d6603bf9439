// qu8_qs8_gemm_64x6c4__avx512vnni: the RowsInLanes layout's kernel (QWeightLayout). A register
// tile is 64 weight rows, in four vectors of sixteen, times up to 6 activation columns, each
// column's four k broadcast to every lane: 24 accumulators, 4 loads and 6 broadcasts per 24
// vpdpbusd. Where the other kernel puts 32 columns in lanes, this one fills its lanes whatever
// the column count, which is what a late convolution's few output pixels (49 at 7 x 7) need.
//
// A tile's columns lie in one 32-column chunk of the activations (in a Tiled layout they are
// consecutive only there), so a chunk is cut into tiles of 6, 6, 5, 5, 5 and 5. Results leave
// transposed: each accumulator holds one column of sixteen rows, which scatters spread over
// sixteen rows of y (finish_tile). That costs more per output than the other kernel's stores,
// and pays because the products this layout is picked for have a long k (2304 and up in
// ResNet's last stages) behind each output.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "integer_kernels/qgemm_internal.h"
#include "integer_kernels/requantize_avx512.h"

namespace dyad::qgemm_detail {

namespace {

constexpr int kGroups = kLaneRows / 16;  // vectors of sixteen rows per panel

// The k loop, inline asm with fixed registers: accumulators zmm(4c + g) for column c and row
// group g, weights zmm24-27, broadcasts zmm28-29 (as in the other kernel, GCC 12 copies
// accumulators between registers when they are intrinsics, and an asm statement cannot name 24
// of them as operands). Each k step reads the four weight vectors, then for each column the
// four bytes at its quad, px + off + 4c.
#define DYAD_LANE_COLUMN(offset, b, a0, a1, a2, a3)          \
  "vpbroadcastd " offset "(%[px],%[off]), %%zmm" b "\n\t"   \
  "vpdpbusd %%zmm24, %%zmm" b ", %%zmm" a0 "\n\t"            \
  "vpdpbusd %%zmm25, %%zmm" b ", %%zmm" a1 "\n\t"            \
  "vpdpbusd %%zmm26, %%zmm" b ", %%zmm" a2 "\n\t"            \
  "vpdpbusd %%zmm27, %%zmm" b ", %%zmm" a3 "\n\t"
#define DYAD_LANE_C0 DYAD_LANE_COLUMN("0", "28", "0", "1", "2", "3")
#define DYAD_LANE_C1 DYAD_LANE_COLUMN("4", "29", "4", "5", "6", "7")
#define DYAD_LANE_C2 DYAD_LANE_COLUMN("8", "28", "8", "9", "10", "11")
#define DYAD_LANE_C3 DYAD_LANE_COLUMN("12", "29", "12", "13", "14", "15")
#define DYAD_LANE_C4 DYAD_LANE_COLUMN("16", "28", "16", "17", "18", "19")
#define DYAD_LANE_C5 DYAD_LANE_COLUMN("20", "29", "20", "21", "22", "23")
#define DYAD_LANE_ZERO(r) "vpxord %%zmm" #r ", %%zmm" #r ", %%zmm" #r "\n\t"
#define DYAD_LANE_SPILL(r) "vmovdqa64 %%zmm" #r ", " #r "*64(%[acc])\n\t"
#define DYAD_LANE_LOOP(COLUMNS)                                                                                      \
  asm volatile(DYAD_LANE_ZERO(0) DYAD_LANE_ZERO(1) DYAD_LANE_ZERO(2) DYAD_LANE_ZERO(3) DYAD_LANE_ZERO(4)            \
               DYAD_LANE_ZERO(5) DYAD_LANE_ZERO(6) DYAD_LANE_ZERO(7) DYAD_LANE_ZERO(8) DYAD_LANE_ZERO(9)            \
               DYAD_LANE_ZERO(10) DYAD_LANE_ZERO(11) DYAD_LANE_ZERO(12) DYAD_LANE_ZERO(13) DYAD_LANE_ZERO(14)       \
               DYAD_LANE_ZERO(15) DYAD_LANE_ZERO(16) DYAD_LANE_ZERO(17) DYAD_LANE_ZERO(18) DYAD_LANE_ZERO(19)       \
               DYAD_LANE_ZERO(20) DYAD_LANE_ZERO(21) DYAD_LANE_ZERO(22) DYAD_LANE_ZERO(23)                          \
               "1:\n\t"                                                                                             \
               "mov (%[q]), %[px]\n\t"                                                                              \
               "vmovdqu64 (%[pw]), %%zmm24\n\t"                                                                     \
               "vmovdqu64 64(%[pw]), %%zmm25\n\t"                                                                   \
               "vmovdqu64 128(%[pw]), %%zmm26\n\t"                                                                  \
               "vmovdqu64 192(%[pw]), %%zmm27\n\t" COLUMNS                                                          \
               "add $8, %[q]\n\t"                                                                                   \
               "add $256, %[pw]\n\t"                                                                                \
               "cmp %[end], %[pw]\n\t"                                                                              \
               "jne 1b\n\t" DYAD_LANE_SPILL(0) DYAD_LANE_SPILL(1) DYAD_LANE_SPILL(2) DYAD_LANE_SPILL(3)             \
               DYAD_LANE_SPILL(4) DYAD_LANE_SPILL(5) DYAD_LANE_SPILL(6) DYAD_LANE_SPILL(7) DYAD_LANE_SPILL(8)       \
               DYAD_LANE_SPILL(9) DYAD_LANE_SPILL(10) DYAD_LANE_SPILL(11) DYAD_LANE_SPILL(12) DYAD_LANE_SPILL(13)   \
               DYAD_LANE_SPILL(14) DYAD_LANE_SPILL(15) DYAD_LANE_SPILL(16) DYAD_LANE_SPILL(17) DYAD_LANE_SPILL(18)  \
               DYAD_LANE_SPILL(19) DYAD_LANE_SPILL(20) DYAD_LANE_SPILL(21) DYAD_LANE_SPILL(22) DYAD_LANE_SPILL(23)  \
               : [pw] "+r"(pw), [q] "+r"(q), [px] "=&r"(px)                                                         \
               : [end] "r"(pw_end), [off] "r"(offset), [acc] "r"(acc)                                               \
               : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",    \
                 "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", \
                 "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29")

// acc[4c + g] = the sums of `columns` columns (1 to 6) for the panel's rows 16g..16g+15: k4
// steps of the panel's weights (256 bytes each) against the bytes at quads[kk] + offset + 4c.
void accumulate(const int8_t* panel, int64_t k4, const uint8_t* const* quads, int64_t offset, int columns, __m512i* acc) {
  const int8_t* pw = panel;
  const int8_t* const pw_end = panel + k4 * kLaneRows * 4;
  const uint8_t* const* q = quads;
  const uint8_t* px;
  switch (columns) {
    case 1: DYAD_LANE_LOOP(DYAD_LANE_C0); break;
    case 2: DYAD_LANE_LOOP(DYAD_LANE_C0 DYAD_LANE_C1); break;
    case 3: DYAD_LANE_LOOP(DYAD_LANE_C0 DYAD_LANE_C1 DYAD_LANE_C2); break;
    case 4: DYAD_LANE_LOOP(DYAD_LANE_C0 DYAD_LANE_C1 DYAD_LANE_C2 DYAD_LANE_C3); break;
    case 5: DYAD_LANE_LOOP(DYAD_LANE_C0 DYAD_LANE_C1 DYAD_LANE_C2 DYAD_LANE_C3 DYAD_LANE_C4); break;
    default: DYAD_LANE_LOOP(DYAD_LANE_C0 DYAD_LANE_C1 DYAD_LANE_C2 DYAD_LANE_C3 DYAD_LANE_C4 DYAD_LANE_C5); break;
  }
}

#undef DYAD_LANE_COLUMN
#undef DYAD_LANE_C0
#undef DYAD_LANE_C1
#undef DYAD_LANE_C2
#undef DYAD_LANE_C3
#undef DYAD_LANE_C4
#undef DYAD_LANE_C5
#undef DYAD_LANE_ZERO
#undef DYAD_LANE_SPILL
#undef DYAD_LANE_LOOP

// A panel's output stage, lane by lane (row 16g + i in lane i of group g), worked out once for
// all its tiles. Requantization runs in 64-bit lanes whatever the shift, since each lane has
// its own: the even rows of a group (h = 0) and its odd rows (h = 1) each get their rounding
// constants, shifts and zero points as eight 64-bit lanes.
struct LanePanel {
  alignas(64) int32_t offset[kLaneRows];
  alignas(64) int32_t multiplier[kLaneRows];
  alignas(64) int64_t round[kGroups][2][8];
  alignas(64) int64_t shift[kGroups][2][8];
  alignas(64) int64_t zero_point[kGroups][2][8];
};

void lane_panel(const OutputStage& out, int64_t row0, int64_t rows, LanePanel& p) {
  for (int64_t r = 0; r < kLaneRows; ++r) {
    const bool valid = r < rows;
    p.offset[r] = valid ? static_cast<int32_t>(out.offset(row0 + r)) : 0;
    const DyadicMultiplier d = valid && out.output != QOutput::Int32 ? out.stage.multipliers[row0 + r] : DyadicMultiplier{};
    p.multiplier[r] = d.m;
    const int64_t g = r / 16, h = r % 2, lane = (r % 16) / 2;
    p.shift[g][h][lane] = d.s;
    p.round[g][h][lane] = d.s > 0 ? int64_t{1} << (d.s - 1) : 0;
    p.zero_point[g][h][lane] = valid && out.output != QOutput::Int32 ? out.stage.zero_point_of(row0 + r) : 0;
  }
}

// dyadic_requantize on sixteen lanes, each with its own multiplier (rows 16g..16g+15 of p).
inline __m512i requantize_lanes(__m512i acc, const LanePanel& p, int g, const OutputStage& out) {
  const __m512i m = _mm512_load_si512(p.multiplier + 16 * g);
  const __m512i lo = _mm512_set1_epi64(out.stage.qmin), hi = _mm512_set1_epi64(out.stage.qmax);
  auto half = [&](__m512i a, __m512i mult, int h) {  // a's and mult's low dwords: rows 2j + h
    const __m512i product = _mm512_mul_epi32(a, mult);
    const __m512i rounded = _mm512_add_epi64(product, _mm512_load_si512(p.round[g][h]));
    const __m512i r = _mm512_add_epi64(_mm512_srav_epi64(rounded, _mm512_load_si512(p.shift[g][h])), _mm512_load_si512(p.zero_point[g][h]));
    return _mm512_min_epi64(_mm512_max_epi64(r, lo), hi);
  };
  const __m512i even = half(acc, m, 0);
  const __m512i odd = half(_mm512_srli_epi64(acc, 32), _mm512_srli_epi64(m, 32), 1);
  return _mm512_or_si512(_mm512_and_si512(even, _mm512_set1_epi64(0xFFFFFFFF)), _mm512_slli_epi64(odd, 32));
}

// Sixteen rows' bytes of four columns (a vector each) as sixteen dwords, row r's four bytes in
// dword r: a 4 x 16 byte transpose by two rounds of unpacks.
inline __m512i rows_of_four_columns(__m128i a, __m128i b, __m128i c, __m128i d) {
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
  __m512i out = _mm512_castsi128_si512(_mm_unpacklo_epi16(ab_lo, cd_lo));
  out = _mm512_inserti32x4(out, _mm_unpackhi_epi16(ab_lo, cd_lo), 1);
  out = _mm512_inserti32x4(out, _mm_unpacklo_epi16(ab_hi, cd_hi), 2);
  return _mm512_inserti32x4(out, _mm_unpackhi_epi16(ab_hi, cd_hi), 3);
}

// Stores a tile's `columns` columns (from product column col0) for the panel's rows in
// [first, last) (relative to the panel): each accumulator is one column of sixteen rows, so
// its lanes go to sixteen rows of y. int32 sums leave by one scatter per accumulator where all
// sixteen rows are stored; bytes by scatters of four columns at a time; the rest (narrow tiles,
// a wide product's columns, partial groups of int32) one at a time.
template <bool kBytes>
void finish_tile(const __m512i* acc, const LanePanel& p, int64_t row0, int64_t first, int64_t last, int64_t col0, int columns,
                 const OutputStage& out) {
  const bool scatter = out.ldy < (int64_t{1} << 26);  // 15 * ldy fits the int32 indices
  const __m512i row_offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                 _mm512_set1_epi32(static_cast<int32_t>(scatter ? out.ldy : 0)));
  // Bytes of four or more consecutive columns: each row's four bytes of columns (0-3) and of
  // the last four (overlapping when fewer than eight) go as one dword, sixteen rows per scatter.
  if (kBytes && scatter && columns >= 4 && out.stage.column_pitch == 0) {
    for (int g = 0; g < kGroups; ++g) {
      const int64_t begin = std::max<int64_t>(first, 16 * g), end = std::min<int64_t>(last, 16 * (g + 1));
      if (begin >= end) continue;
      __m128i bytes[kLaneCols];
      for (int c = 0; c < columns; ++c)
        bytes[c] = low_bytes16(requantize_lanes(_mm512_add_epi32(acc[4 * c + g], _mm512_load_si512(p.offset + 16 * g)), p, g, out));
      const __mmask16 rows = static_cast<__mmask16>(((1u << (end - 16 * g)) - 1) & ~((1u << (begin - 16 * g)) - 1));
      uint8_t* base = static_cast<uint8_t*>(out.y) + (row0 + 16 * g) * out.ldy + col0;
      for (int c : {0, columns - 4}) {
        const __m512i dwords = rows_of_four_columns(bytes[c], bytes[c + 1], bytes[c + 2], bytes[c + 3]);
        _mm512_mask_i32scatter_epi32(base + c, rows, row_offsets, dwords, 1);
      }
    }
    return;
  }
  for (int c = 0; c < columns; ++c) {
    const int64_t col = out.stage.column_of(col0 + c);
    if (col < 0) continue;  // a junk column of a wide product
    for (int g = 0; g < kGroups; ++g) {
      const int64_t begin = std::max<int64_t>(first, 16 * g), end = std::min<int64_t>(last, 16 * (g + 1));
      if (begin >= end) continue;
      __m512i v = _mm512_add_epi32(acc[4 * c + g], _mm512_load_si512(p.offset + 16 * g));
      if (kBytes) v = requantize_lanes(v, p, g, out);
      if (!kBytes && scatter && begin == 16 * g && end == 16 * (g + 1)) {
        _mm512_i32scatter_epi32(static_cast<int32_t*>(out.y) + (row0 + begin) * out.ldy + col, row_offsets, v, 4);
        continue;
      }
      alignas(64) int32_t lanes[16];
      _mm512_store_si512(lanes, v);
      if (kBytes) {
        uint8_t* dst = static_cast<uint8_t*>(out.y) + (row0 + begin) * out.ldy + col;
        for (int64_t r = begin; r < end; ++r, dst += out.ldy) *dst = static_cast<uint8_t>(lanes[r - 16 * g]);  // int8: the same low byte
      } else {
        int32_t* dst = static_cast<int32_t*>(out.y) + (row0 + begin) * out.ldy + col;
        for (int64_t r = begin; r < end; ++r, dst += out.ldy) *dst = lanes[r - 16 * g];
      }
    }
  }
}

}  // namespace

void qu8_qs8_gemm_64x6c4__avx512vnni(const QPackedWeights& w, const QActivationAddressing& x, int32_t x_zero_point,
                                     const int32_t* bias, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output,
                                     const QOutputStage& stage, void* y, int64_t ldy) {
  const OutputStage out{w, x_zero_point, bias, output, stage, y, ldy};
  const int64_t k4 = (w.k + 3) / 4;
  constexpr int64_t kChunk = QPackedActivations::kTileColumns;
  alignas(64) __m512i acc[kLaneCols * kGroups];
  alignas(64) LanePanel panel_out;
  // Panel by panel: a panel's weights (k4 * 256 bytes) and all the columns' activations stay in
  // L2 while the tiles stream them. A row range that starts or ends inside a panel computes the
  // whole panel and stores its own rows.
  for (int64_t panel0 = m_begin / kLaneRows * kLaneRows; panel0 < m_end; panel0 += kLaneRows) {
    const int64_t first = std::max<int64_t>(m_begin - panel0, 0), last = std::min<int64_t>(m_end - panel0, kLaneRows);
    lane_panel(out, panel0, std::min<int64_t>(w.m - panel0, kLaneRows), panel_out);
    const int8_t* panel = w.data.data() + (panel0 / kLaneRows) * k4 * kLaneRows * 4;
    for (int64_t chunk_begin = n_begin; chunk_begin < n_end; chunk_begin = (chunk_begin / kChunk + 1) * kChunk) {
      const int64_t chunk_end = std::min(n_end, (chunk_begin / kChunk + 1) * kChunk), chunk = x.chunk_offset(chunk_begin);
      // Tiles as even as the chunk allows (32 columns: 6, 6, 5, 5, 5, 5): a narrow tile spends
      // its time loading the weights (four vectors for every two columns of a 2-wide one).
      const int64_t span = chunk_end - chunk_begin, tiles = (span + kLaneCols - 1) / kLaneCols;
      for (int64_t t = 0, col0 = chunk_begin; t < tiles; ++t) {
        const int columns = static_cast<int>(span / tiles + (t < span % tiles ? 1 : 0));
        accumulate(panel, k4, x.quads, chunk + (col0 % kChunk) * 4, columns, acc);
        if (output == QOutput::Int32) finish_tile<false>(acc, panel_out, panel0, first, last, col0, columns, out);
        else finish_tile<true>(acc, panel_out, panel0, first, last, col0, columns, out);
        col0 += columns;
      }
    }
  }
}

}  // namespace dyad::qgemm_detail
