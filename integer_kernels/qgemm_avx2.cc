// qu8_qs8_gemm_4x8c4__avx2: for CPUs with AVX2 but no VNNI, on the VNNI packing. AVX2 has no
// u8 x s8 dot product that is exact (vpmaddubsw saturates its int16 pair sums), so both sides are
// widened to int16 and multiplied with vpmaddwd: every u8 x s8 pair sum fits int32 exactly, and
// the int32 accumulation wraps like the reference's. A tile is 4 weight rows x 8 columns; the
// 8 lanes of an accumulator hold (column, k pair) partial sums, added pairwise at the end.
// Columns that do not fill a tile, and the epilogue, reuse the scalar dyadic.h functions.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "integer_kernels/qgemm_internal.h"

namespace dyad::qgemm_detail {

bool avx2_cpu() { return __builtin_cpu_supports("avx2"); }

namespace {

constexpr int kRows = 4, kCols = 8;

// acc is sum W*X for (row, col): adds the row's offset and writes the output type.
inline void finish(const OutputStage& out, int64_t row, int64_t col, int32_t acc) {
  out.write(row, col, static_cast<int32_t>(static_cast<uint32_t>(acc) + out.offset(row)));
}

// Four k of one row, widened to int16 and repeated for the four columns a half-register holds.
inline __m256i row_weights(const int8_t* pw) {
  int32_t packed;
  std::memcpy(&packed, pw, 4);
  return _mm256_cvtepi8_epi16(_mm_set1_epi32(packed));
}

// Full 4x8 tile at (row0, col0), its eight columns consecutive from quads[kk] + chunk + 4 col0
// (chunk: the offset of the 32-column chunk holding them); rows from m_end on (zero padding,
// or another thread's) are not stored.
void tile(const int8_t* panel, int64_t k4, const uint8_t* const* quads, int64_t chunk, int64_t row0, int64_t col0, const OutputStage& out,
          int64_t m_end) {
  __m256i lo0 = _mm256_setzero_si256(), hi0 = lo0, lo1 = lo0, hi1 = lo0, lo2 = lo0, hi2 = lo0, lo3 = lo0, hi3 = lo0;
  for (int64_t kk = 0; kk < k4; ++kk) {
    const uint8_t* px = quads[kk] + chunk + (col0 % QPackedActivations::kTileColumns) * 4;
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(px));  // 8 columns x 4 k
    const __m256i xlo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(bytes));          // columns 0-3
    const __m256i xhi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(bytes, 1));     // columns 4-7
    const int8_t* pw = panel + kk * kVnniRows * 4;
    const __m256i w0 = row_weights(pw), w1 = row_weights(pw + 4), w2 = row_weights(pw + 8), w3 = row_weights(pw + 12);
    lo0 = _mm256_add_epi32(lo0, _mm256_madd_epi16(xlo, w0));
    hi0 = _mm256_add_epi32(hi0, _mm256_madd_epi16(xhi, w0));
    lo1 = _mm256_add_epi32(lo1, _mm256_madd_epi16(xlo, w1));
    hi1 = _mm256_add_epi32(hi1, _mm256_madd_epi16(xhi, w1));
    lo2 = _mm256_add_epi32(lo2, _mm256_madd_epi16(xlo, w2));
    hi2 = _mm256_add_epi32(hi2, _mm256_madd_epi16(xhi, w2));
    lo3 = _mm256_add_epi32(lo3, _mm256_madd_epi16(xlo, w3));
    hi3 = _mm256_add_epi32(hi3, _mm256_madd_epi16(xhi, w3));
  }
  const __m256i rows[kRows] = {_mm256_hadd_epi32(lo0, hi0), _mm256_hadd_epi32(lo1, hi1), _mm256_hadd_epi32(lo2, hi2),
                               _mm256_hadd_epi32(lo3, hi3)};
  for (int r = 0; r < kRows; ++r) {
    if (row0 + r >= m_end) break;
    // hadd leaves columns in the order 0 1 4 5 2 3 6 7: put the 64-bit pairs back in order.
    const __m256i ordered = _mm256_permute4x64_epi64(rows[r], 0xD8);
    alignas(32) int32_t acc[kCols];
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc), ordered);
    for (int c = 0; c < kCols; ++c) finish(out, row0 + r, col0 + c, acc[c]);
  }
}

// Columns that do not fill a tile: plain loops on the packed layout.
void tail(const int8_t* panel, int64_t k4, const QActivationAddressing& x, int64_t row0, int64_t col0, int64_t cols, const OutputStage& out,
          int64_t m_end) {
  for (int r = 0; r < kVnniRows && row0 + r < m_end; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      uint32_t acc = 0;
      for (int64_t kk = 0; kk < k4; ++kk)
        for (int j = 0; j < 4; ++j)
          acc += static_cast<uint32_t>(static_cast<int32_t>(x.at(kk, col0 + c)[j]) * panel[(kk * kVnniRows + r) * 4 + j]);
      finish(out, row0 + r, col0 + c, static_cast<int32_t>(acc));
    }
}

}  // namespace

void qu8_qs8_gemm_4x8c4__avx2(const QPackedWeights& w, const QActivationAddressing& x, int32_t x_zero_point, const int32_t* bias,
                              int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output,
                              const QOutputStage& stage, void* y, int64_t ldy) {
  const OutputStage out{w, x_zero_point, bias, output, stage, y, ldy};
  const int64_t k4 = (w.k + 3) / 4;
  constexpr int64_t kChunk = QPackedActivations::kTileColumns;
  for (int64_t row0 = m_begin; row0 < m_end; row0 += kVnniRows) {
    const int8_t* panel = w.data.data() + (row0 / kVnniRows) * k4 * kVnniRows * 4;
    // Chunk by chunk: a tile's eight columns must be consecutive.
    for (int64_t chunk_begin = n_begin; chunk_begin < n_end; chunk_begin = (chunk_begin / kChunk + 1) * kChunk) {
      const int64_t chunk_end = std::min(n_end, (chunk_begin / kChunk + 1) * kChunk), chunk = x.chunk_offset(chunk_begin);
      int64_t col0 = chunk_begin;
      for (; col0 + kCols <= chunk_end; col0 += kCols) {
        tile(panel, k4, x.quads, chunk, row0, col0, out, m_end);
        if (row0 + kRows < m_end) tile(panel + kRows * 4, k4, x.quads, chunk, row0 + kRows, col0, out, m_end);
      }
      if (col0 < chunk_end) tail(panel, k4, x, row0, col0, chunk_end - col0, out, m_end);
    }
  }
}

}  // namespace dyad::qgemm_detail
