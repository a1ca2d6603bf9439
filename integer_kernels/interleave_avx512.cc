// The AVX-512 twins of the interleaving kernels in qgemm.cc: rows of any length are read and
// written exactly (masks, no scalar tail, no overrun), sixteen columns per step.
#include <immintrin.h>

#include <algorithm>
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
inline __m512i quads_of(__m128i a, __m128i b, __m128i c, __m128i d) {
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
  __m512i out = _mm512_castsi128_si512(_mm_unpacklo_epi16(ab_lo, cd_lo));
  out = _mm512_inserti32x4(out, _mm_unpackhi_epi16(ab_lo, cd_lo), 1);
  out = _mm512_inserti32x4(out, _mm_unpacklo_epi16(ab_hi, cd_hi), 2);
  return _mm512_inserti32x4(out, _mm_unpackhi_epi16(ab_hi, cd_hi), 3);
}

}  // namespace

void interleave_quad__avx512(const uint8_t* const rows[4], int64_t n, uint8_t* dst, int64_t chunk_stride, int64_t tile_columns) {
  int64_t chunk = 0, in_chunk = 0;  // where column c goes (narrow chunks), counted without dividing
  int64_t c = 0;
  if (tile_columns == QPackedActivations::kNarrowTileColumns) {
    // 48 columns at a time, eight whole chunks of six from three vectors of sixteen: each chunk's
    // six lanes permuted to the bottom, then stored as 16 + 8 bytes (one masked store per chunk
    // instead took 2.2-2.3x the time of packing 32 wide: res4's 2304 x 196 activations in 85 us;
    // this, 30 us, against 38 us 32 wide).
    const __m512i kFirst = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    for (; c + 48 <= n; c += 48, chunk += 8) {
      __m512i v[3];
      for (int i = 0; i < 3; ++i)
        v[i] = quads_of(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[0] + c + 16 * i)),
                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[1] + c + 16 * i)),
                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[2] + c + 16 * i)),
                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[3] + c + 16 * i)));
      for (int j = 0; j < 8; ++j) {
        const int first = 6 * j, i = first / 16;  // lanes [first, first + 6) of v[0] v[1] v[2]
        const __m512i index = _mm512_add_epi32(kFirst, _mm512_set1_epi32(first % 16));
        const __m512i piece = _mm512_permutex2var_epi32(v[i], index, v[i < 2 ? i + 1 : 2]);
        uint8_t* at = dst + (chunk + j) * chunk_stride;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(at), _mm512_castsi512_si128(piece));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(at + 16), _mm512_extracti32x4_epi32(piece, 1));
      }
    }
  }
  for (; c < n; c += 16) {
    const __mmask16 columns = lanes_between(0, n - c);
    const __m512i out = quads_of(_mm_maskz_loadu_epi8(columns, rows[0] + c), _mm_maskz_loadu_epi8(columns, rows[1] + c),
                                 _mm_maskz_loadu_epi8(columns, rows[2] + c), _mm_maskz_loadu_epi8(columns, rows[3] + c));
    if (tile_columns == QPackedActivations::kTileColumns) {  // sixteen columns from a multiple of 16 lie in one chunk
      _mm512_mask_storeu_epi32(dst + (c / 32) * chunk_stride + (c % 32) * 4, columns, out);  // one 32-bit lane per column
      continue;
    }
    // Narrower chunks: one masked store per chunk the sixteen columns reach, each based so that
    // its first lane lands on its column (the base may lie before the chunk: masked-off lanes
    // touch no memory).
    const int64_t valid = std::min<int64_t>(n - c, 16);
    for (int64_t lane = 0; lane < valid;) {
      const int64_t take = std::min(valid - lane, tile_columns - in_chunk);
      _mm512_mask_storeu_epi32(const_cast<void*>(address(dst, chunk * chunk_stride + (in_chunk - lane) * 4)), lanes_between(lane, lane + take), out);
      lane += take;
      in_chunk += take;
      if (in_chunk == tile_columns) in_chunk = 0, ++chunk;
    }
  }
}

namespace {

// Where each sixteen-column step of a row reads and which of its lanes are inside the row:
// the same for every row of a phase, so computed once per phase.
constexpr int64_t kMaxSteps = 64;  // rows of up to 1,024 columns; longer ones take the reference

struct ColumnSteps {
  int count = 0;
  int64_t base[kMaxSteps];                                   // input index of the step's first column
  __mmask16 columns[kMaxSteps], lo[kMaxSteps], hi[kMaxSteps];  // lanes written; read from [base, +16), [base + 16, +16)
};

ColumnSteps column_steps(int64_t width, int64_t first, int64_t step, int64_t count) {
  ColumnSteps s;
  for (int64_t t = 0; t < count; t += 16, ++s.count) {
    const int64_t base = first + t * step;
    s.base[s.count] = base;
    s.columns[s.count] = lanes_between(0, count - t);
    s.lo[s.count] = lanes_between(-base, width - base);
    s.hi[s.count] = lanes_between(-base - 16, width - base - 16);
  }
  return s;
}

// One row: step 1 reads sixteen bytes per step, step 2 the even bytes of thirty-two; lanes
// whose index falls outside the row, and every lane of a null row, keep the pad value.
template <int kStep>
inline void interleave_row(const uint8_t* const rows[4], const ColumnSteps& steps, __m128i pads, uint8_t* dst) {
  const __m128i low_bytes = _mm_set1_epi16(0x00FF);
  for (int i = 0; i < steps.count; ++i) {
    const int64_t base = steps.base[i];
    __m128i v[4];
    for (int j = 0; j < 4; ++j) {
      if (!rows[j]) {
        v[j] = pads;
        continue;
      }
      const __m128i lo = _mm_mask_loadu_epi8(pads, steps.lo[i], address(rows[j], base));
      if (kStep == 1) {
        v[j] = lo;
      } else {
        const __m128i hi = _mm_mask_loadu_epi8(pads, steps.hi[i], address(rows[j], base + 16));
        v[j] = _mm_packus_epi16(_mm_and_si128(lo, low_bytes), _mm_and_si128(hi, low_bytes));
      }
    }
    _mm512_mask_storeu_epi32(dst + 64 * i, steps.columns[i], quads_of(v[0], v[1], v[2], v[3]));
  }
}

}  // namespace

void interleave_phase__avx512(const uint8_t* const planes[4], int64_t height, int64_t width, int64_t first_row, int64_t row_step,
                              int64_t rows, int64_t first_col, int64_t col_step, int64_t cols, uint8_t pad, uint8_t* dst) {
  if (col_step > 2 || cols > 16 * kMaxSteps)
    return interleave_phase__ref(planes, height, width, first_row, row_step, rows, first_col, col_step, cols, pad, dst);
  const ColumnSteps steps = column_steps(width, first_col, col_step, cols);
  const __m128i pads = _mm_set1_epi8(static_cast<char>(pad));
  const __m512i pad_bytes = _mm512_set1_epi8(static_cast<char>(pad));
  for (int64_t r = 0; r < rows; ++r, dst += 4 * cols) {
    const int64_t ih = first_row + r * row_step;
    if (ih < 0 || ih >= height) {  // a padding row
      for (int i = 0; i < steps.count; ++i) _mm512_mask_storeu_epi32(dst + 64 * i, steps.columns[i], pad_bytes);
      continue;
    }
    const uint8_t* in[4];
    for (int j = 0; j < 4; ++j) in[j] = planes[j] ? planes[j] + ih * width : nullptr;
    if (col_step == 1) interleave_row<1>(in, steps, pads, dst);
    else interleave_row<2>(in, steps, pads, dst);
  }
}

}  // namespace dyad::qgemm_detail
