// Per-variant entry points behind qgemm(); internal to integer_kernels.
#pragma once
#include "integer_kernels/qgemm.h"

namespace dyad::qgemm_detail {

// Rows per register tile and activation columns per tile of the VNNI kernel.
constexpr int kVnniRows = 8;
static_assert(kVnniRows == kQgemmRowAlign, "row ranges start on a weight panel");
constexpr int kVnniCols = 32;
// Weight rows per panel and activation columns per tile of the RowsInLanes kernel.
constexpr int kLaneRows = 64;
constexpr int kLaneCols = 6;

// The output stage of qgemm() as every variant finishes it.
struct OutputStage {
  const QPackedWeights& w;
  int32_t x_zero_point;
  const int32_t* bias;
  QOutput output;
  const QOutputStage& stage;
  void* y;
  int64_t ldy;

  // bias - z * rowsum of `row`, wrapping in uint32 as the reference's sums do.
  uint32_t offset(int64_t row) const {
    return (bias ? static_cast<uint32_t>(bias[row]) : 0u) -
           static_cast<uint32_t>(x_zero_point) * static_cast<uint32_t>(w.row_sums[static_cast<size_t>(row)]);
  }
  // Writes one finished accumulator (offset included) as the output type: the int32 itself, or
  // dyadic_requantize to uint8 / int8.
  void write(int64_t row, int64_t col, int32_t acc) const {
    const int64_t at = stage.index_of(row, col, ldy);
    if (at < 0) return;
    if (output == QOutput::Int32) {
      static_cast<int32_t*>(y)[at] = acc;
      return;
    }
    const int32_t q = dyadic_requantize(acc, stage.multipliers[row], stage.zero_point_of(row), stage.qmin, stage.qmax);
    if (output == QOutput::UInt8) static_cast<uint8_t*>(y)[at] = static_cast<uint8_t>(q);
    else static_cast<int8_t*>(y)[at] = static_cast<int8_t>(q);
  }
};

bool avx512vnni_cpu();
bool avx2_cpu();

// qgemm_interleave_quad's variants: the scalar reference and AVX-512 (exact reads and writes).
void interleave_quad__ref(const uint8_t* const rows[4], int64_t n, uint8_t* dst, int64_t chunk_stride, int64_t tile_columns);
void interleave_quad__avx512(const uint8_t* const rows[4], int64_t n, uint8_t* dst, int64_t chunk_stride, int64_t tile_columns);
// One row of qgemm_interleave_phase, by definition: dst[4t + j] = rows[j][first + t * step], or
// `pad` where that index is outside [0, width) or rows[j] is nullptr.
void interleave_quad_strided__ref(const uint8_t* const rows[4], int64_t width, int64_t first, int64_t step, int64_t count,
                                  uint8_t pad, uint8_t* dst);
// qgemm_interleave_phase's variants.
void interleave_phase__ref(const uint8_t* const planes[4], int64_t height, int64_t width, int64_t first_row, int64_t row_step,
                           int64_t rows, int64_t first_col, int64_t col_step, int64_t cols, uint8_t pad, uint8_t* dst);
void interleave_phase__avx512(const uint8_t* const planes[4], int64_t height, int64_t width, int64_t first_row, int64_t row_step,
                              int64_t rows, int64_t first_col, int64_t col_step, int64_t cols, uint8_t pad, uint8_t* dst);

// Every variant computes rows [m_begin, m_end) and columns [n_begin, n_end).
// The reference: plain loops, acc = bias + sum W * (X - z) in wrapping int32, then dyadic.h.
void qu8_qs8_gemm__ref(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point, const int32_t* bias,
                       int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy);
// How the VNNI-layout variants find quad q (four k) of column c: QPackedActivations::at, from
// a table of where each quad starts.
struct QActivationAddressing {
  const uint8_t* const* quads;
  int64_t tile_stride;   // tile_columns * 4: every quad's columns consecutive (Strided, Indirect, Rows)
  int64_t tile_columns;  // W: columns per chunk (32 unless Tiled for RowsInLanes, or Rows)
  int64_t row_stride = 0;  // Rows: column c of quad q at quads[q] + c * row_stride
  // False also when Tiled with a single quad, whose addresses are the same either way.
  bool tiled() const { return tile_stride != tile_columns * 4; }
  // Where the W-column chunk holding column c starts in quad q, as an offset from quads[q].
  int64_t chunk_offset(int64_t c) const { return (c / tile_columns) * tile_stride; }
  // Where column c is in quad q, as an offset from quads[q].
  int64_t column_offset(int64_t c) const { return row_stride != 0 ? c * row_stride : chunk_offset(c) + (c % tile_columns) * 4; }
  const uint8_t* at(int64_t q, int64_t c) const { return quads[q] + column_offset(c); }
};

void qu8_qs8_gemm_8x32c4__avx512vnni(const QPackedWeights& w, const QActivationAddressing& x, int32_t x_zero_point,
                                     const int32_t* bias, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output,
                                     const QOutputStage& stage, void* y, int64_t ldy);
// The RowsInLanes layout's kernel (QWeightLayout): 64 weight rows in four vectors x 6 columns.
void qu8_qs8_gemm_64x6c4__avx512vnni(const QPackedWeights& w, const QActivationAddressing& x, int32_t x_zero_point,
                                     const int32_t* bias, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output,
                                     const QOutputStage& stage, void* y, int64_t ldy);
// On the VNNI packing (AVX2 and AVX-512 variants share it).
void qu8_qs8_gemm_4x8c4__avx2(const QPackedWeights& w, const QActivationAddressing& x, int32_t x_zero_point, const int32_t* bias,
                              int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy);

}  // namespace dyad::qgemm_detail
