// Integer GEMM for W8A8 layers (convolutions as im2col products, matmuls):
//
//   acc[m][n] = bias[m] + sum_k W[m][k] * (X[k][n] - x_zero_point)         int32, wrapping
//   Y[m][n]   = clamp(dyadic_rescale(acc, mult[m]) + y_zero_point[m], qmin, qmax)   (lib/quant/dyadic.h)
//
// W is int8 [M][K] (symmetric, one scale per output row), X is uint8 [K][N]. Y is uint8, int8, or
// the int32 accumulators themselves (ConvInteger/MatMulInteger semantics).
//
// Variants, named by the scheme in README.md: a scalar reference (qu8_qs8_gemm__ref), two
// AVX-512 VNNI ones (qu8_qs8_gemm_8x32c4__avx512vnni, and qu8_qs8_gemm_64x6c4__avx512vnni for
// weights packed RowsInLanes) and an AVX2 one for CPUs without VNNI (qu8_qs8_gemm_4x8c4__avx2,
// exact int16 products). All give bit-identical results; the zero point is applied through the
// weights' row sums: sum W*(X - z) = sum W*X - z * sum W.
// qgemm_isa_best() picks the fastest this CPU runs; DYAD_FORCE_ISA=reference|avx512vnni|avx2
// forces one, and qgemm_calls() counts calls per variant so tests can prove which paths ran.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "lib/quant/dyadic.h"

namespace dyad {

enum class QIsa { Reference = 0, Avx512Vnni = 1, Avx2 = 2 };
constexpr int kQIsaCount = 3;
const char* qisa_name(QIsa isa);
bool qisa_supported(QIsa isa);  // compiled in and the CPU has the instructions
QIsa qgemm_isa_best();          // honours DYAD_FORCE_ISA
int64_t qgemm_calls(QIsa isa);  // kernel calls so far on this path
int64_t qgemm_rows_in_lanes_calls();  // those of them with RowsInLanes weights (see QWeightLayout)

// Which operand the VNNI kernels spread across a vector's lanes:
//  - ColumnsInLanes: activation columns (32 per tile), weight rows broadcast eight at a time;
//    weights packed [M/8][K/4][8][4]. Every variant has it.
//  - RowsInLanes (AVX-512 VNNI only): weight rows, 64 per panel, activation columns broadcast
//    six at a time (qu8_qs8_gemm_64x6c4); weights packed [M/64][K/4][64][4]. For products with
//    few columns (a late convolution's 7 x 7 map: 49 columns fill 64 lanes of the other layout,
//    where 64 rows fill 64 exactly).
enum class QWeightLayout { ColumnsInLanes, RowsInLanes };
// The layout expected to run an m x n x k product faster (ColumnsInLanes wherever the ISA has
// no other): the one wasting fewer lanes, unless k is too short to pay for RowsInLanes's
// transposing stores.
// transposed_output: the product stores Y transposed (QOutputStage::transposed), which
// RowsInLanes does from its registers and ColumnsInLanes through a copy.
QWeightLayout qgemm_layout_for(QIsa isa, int64_t m, int64_t n, int64_t k, bool transposed_output = false);

// Weights packed for one variant; pack once per layer.
struct QPackedWeights {
  QIsa isa = QIsa::Reference;
  QWeightLayout layout = QWeightLayout::ColumnsInLanes;
  int64_t m = 0, k = 0;
  std::vector<int8_t> data;       // variant-specific layout, zero padded
  std::vector<int32_t> row_sums;  // sum_k W[m][k]
};
QPackedWeights qgemm_pack_weights(QIsa isa, const int8_t* w, int64_t m, int64_t k, int64_t ldw,
                                  QWeightLayout layout = QWeightLayout::ColumnsInLanes);

// Activations packed for one variant; pack once per product (each is reused by every row block).
// The VNNI layouts (AVX-512, AVX2) group k by four: in quad q, each column c holds the four bytes
// X[4q..4q+3][c] side by side. Where a quad's columns lie, at(q, c):
//  - Tiled (what qgemm_pack_* make): columns in chunks of W, [ceil(N/W)][K/4][W][4], W the
//    tile_columns the weights' kernel reads best (qgemm_tile_columns_for): 32 for
//    ColumnsInLanes, 6 (mostly) for RowsInLanes. A register tile's k steps follow one another in
//    memory, so the GEMM streams them in order and needs no copy of its own (a quad's columns
//    N * 4 bytes apart cost a copy per product: a sixth of a ResNet stage's time). Columns past
//    N in the last chunk are zero. The 64x6 kernel also reads 32-wide chunks, six columns of
//    every 128 bytes; on its own width ResNet's res4 product ran 0.5-4.4% faster, median 2.4%
//    (both packings alternated in qgemm_vs_onednn, 16 comparisons): each tile then reads 24
//    bytes per k step, in order, instead of a new line every step. Not when N leaves a last
//    chunk of one or two columns: ResNet's res5 (49 = 8 x 6 + 1) ran about 1% slower so (median
//    of 16 comparisons, 0.95-1.04x), its one-column tile loading four weight vectors for every
//    four products.
//  - Strided: quad q's N columns consecutive, at data + q * N * 4 (a 1x1 convolution's
//    interleaved planes, written whole rows at a time).
//  - Indirect (quad_offsets set): quad q's columns consecutive from base + quad_offsets[q] in the
//    caller's memory, which is how a convolution reads its padded input in place, without im2col.
//  - Rows (row_stride set): X given transposed, column c's k bytes at base + c * row_stride,
//    read in place (a MatMul's A, which then needs no packing). Only the RowsInLanes kernel
//    reads it: its tiles broadcast each column's four bytes, which may come from six rows.
enum class QActivationLayout { Tiled, Strided, Indirect, Rows };
struct QPackedActivations {
  static constexpr int64_t kTileColumns = 32;        // ColumnsInLanes's chunks, and every Strided or Indirect layout's
  static constexpr int64_t kNarrowTileColumns = 6;   // RowsInLanes's (Tiled only)
  QIsa isa = QIsa::Reference;
  QActivationLayout layout = QActivationLayout::Tiled;  // the VNNI layouts' (Reference: plain [K][N])
  int64_t k = 0, n = 0;
  std::vector<uint8_t> data;
  const uint8_t* base = nullptr;
  std::vector<int64_t> quad_offsets;
  int64_t tile_columns = kTileColumns;  // W: columns per chunk
  int64_t quad_pitch = 0;   // bytes from quad q to q + 1 in `data` (Tiled, Strided)
  int64_t tile_stride = 0;  // bytes from a quad's W-column chunk to the next: K/4 * W * 4 when Tiled, else W * 4
  int64_t row_stride = 0;   // Rows: bytes from one column to the next
  // Where quad q's first column is.
  const uint8_t* quad(int64_t q) const {
    if (!quad_offsets.empty()) return base + quad_offsets[static_cast<size_t>(q)];
    return (base ? base : data.data()) + q * quad_pitch;
  }
  const uint8_t* at(int64_t q, int64_t col) const {
    return quad(q) + (row_stride != 0 ? col * row_stride : (col / tile_columns) * tile_stride + (col % tile_columns) * 4);
  }
};
// The Tiled chunk width the kernel of w reads best in a product of n columns (kTileColumns or
// kNarrowTileColumns).
int64_t qgemm_tile_columns_for(const QPackedWeights& w, int64_t n);
QPackedActivations qgemm_pack_activations(QIsa isa, const uint8_t* x, int64_t k, int64_t n, int64_t ldx,
                                          int64_t tile_columns = QPackedActivations::kTileColumns);
// Packing row by row, for callers that make X's rows on the fly (a convolution's im2col) or
// repack many products into one buffer: reset once, then pack any split of the rows (in
// multiples of four, which threads may share). row(r, scratch) returns row r's n bytes, either
// in the caller's memory or written into `scratch` (n bytes, the caller's to fill).
void qgemm_activations_reset(QIsa isa, int64_t k, int64_t n, QPackedActivations& p,
                             int64_t tile_columns = QPackedActivations::kTileColumns);
// The Strided layout instead, for a caller that writes quad q's n columns at p.data + q * n * 4
// itself (VNNI layouts only).
void qgemm_activations_reset_strided(QIsa isa, int64_t k, int64_t n, QPackedActivations& p);
using QRowSource = std::function<const uint8_t*(int64_t row, uint8_t* scratch)>;
void qgemm_pack_activation_rows(QPackedActivations& p, int64_t row_begin, int64_t row_end, const QRowSource& row);
// Four rows into the VNNI quad layout, for c < n: column c's four bytes rows[j][c] at
// dst + (c / W) * chunk_stride + (c % W) * 4 + j, W = tile_columns. chunk_stride W * 4 writes
// them consecutively (Strided); K/4 * W * 4 writes one quad of a Tiled layout.
void qgemm_interleave_quad(const uint8_t* const rows[4], int64_t n, uint8_t* dst, int64_t chunk_stride = 128,
                           int64_t tile_columns = QPackedActivations::kTileColumns);
// A whole stride phase of four channels' padded planes (each height x width), the way an
// in-place convolution reads its input: output row r (of `rows`, each `cols` columns, written
// one after another) holds, at dst[4t + j], channel j's input at row first_row + r * row_step
// and column first_col + t * col_step, or `pad` where that position is outside the plane (or
// planes[j] is nullptr: a channel past the last, whose weights are 0). One call per phase
// instead of one per row: a 7 x 7 map's rows are too short to pay a call each.
void qgemm_interleave_phase(const uint8_t* const planes[4], int64_t height, int64_t width, int64_t first_row, int64_t row_step,
                            int64_t rows, int64_t first_col, int64_t col_step, int64_t cols, uint8_t pad, uint8_t* dst);
// The indirect form (VNNI layouts only): quad_offsets has one entry per four k.
QPackedActivations qgemm_activations_indirect(QIsa isa, int64_t k, int64_t n, const uint8_t* base, std::vector<int64_t> quad_offsets);
// The same from X stored transposed, as [N][K] rows (row stride ldx): a MatMul's activations
// A[m][k], whose product with constant weights B[k][n] runs here as B^T x A^T.
QPackedActivations qgemm_pack_activations_transposed(QIsa isa, const uint8_t* xt, int64_t k, int64_t n, int64_t ldx,
                                                     int64_t tile_columns = QPackedActivations::kTileColumns);
// The same read in place (Rows), for RowsInLanes weights only; k a multiple of 4 (a partial last
// group would read past its row, and past the end of xt on the last).
QPackedActivations qgemm_activations_rows(QIsa isa, const uint8_t* xt, int64_t k, int64_t n, int64_t ldx);
// Its columns [col_begin, col_end) only, into a Tiled layout made by qgemm_activations_reset:
// threads may share a product's columns, split at multiples of its tile_columns.
void qgemm_pack_activation_columns(QPackedActivations& p, int64_t col_begin, int64_t col_end, const uint8_t* xt, int64_t ldx);

enum class QOutput { UInt8, Int8, Int32 };

struct QOutputStage {
  const DyadicMultiplier* multipliers = nullptr;  // one per row; unused for QOutput::Int32
  int32_t zero_point = 0, qmin = 0, qmax = 255;
  const int32_t* zero_points = nullptr;  // one per row instead of zero_point (per-channel outputs)
  int32_t zero_point_of(int64_t row) const { return zero_points ? zero_points[row] : zero_point; }
  // Wide columns (a convolution computed in place, whose product has junk columns at the end of
  // each output row): column j belongs to output row j / column_pitch, and only the first
  // kept_columns of each such row are written, at (j / column_pitch) * kept_columns +
  // j % column_pitch. 0: column j is written at j.
  int64_t column_pitch = 0, kept_columns = 0;
  // Y stored transposed, [N][M]: element (row, column j) at column_of(j) * ldy + row. What a
  // MatMul's output is (its product runs as Y^T = B^T x A^T), and the layout oneDNN's matmul
  // writes. The RowsInLanes kernel stores its column vectors so directly; the others compute
  // blocks of rows and copy them across.
  bool transposed = false;
  // Where column j lands, or -1 for a dropped one.
  int64_t column_of(int64_t j) const {
    if (column_pitch == 0) return j;
    const int64_t r = j / column_pitch, c = j % column_pitch;
    return c < kept_columns ? r * kept_columns + c : -1;
  }
  // Y's element index of (row, column j), or -1 for a dropped column.
  int64_t index_of(int64_t row, int64_t j, int64_t ldy) const {
    const int64_t col = column_of(j);
    if (col < 0) return -1;
    return transposed ? col * ldy + row : row * ldy + col;
  }
};

// Computes columns [n_begin, n_end) of Y (row stride ldy elements). Single-threaded: callers
// split columns or rows across threads. w and x must be packed for the same variant.
void qgemm(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point, const int32_t* bias,
           int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy);
// Rows [m_begin, m_end) of those columns only; m_begin a multiple of kQgemmRowAlign. Threads
// split rows when there are too few columns to share (a late convolution's 7 x 7 outputs),
// best at multiples of qgemm_row_panel(w): a range that starts or ends inside a panel of the
// RowsInLanes layout computes the whole panel and stores its own rows.
inline constexpr int64_t kQgemmRowAlign = 8;
int64_t qgemm_row_panel(const QPackedWeights& w);
// How `threads` threads should share a rows x columns product: true for weight panels of
// row_panel rows, false for 32-column tiles; whichever leaves the busiest thread less above an
// even share (columns on a tie: each thread then reads only its own activations, half of them
// packed by the other thread when they share the packing, where weight panels had every thread
// read them all: 256^3 with two threads, packing included, ran 0.83-0.85x oneDNN split by
// columns and 0.67x by rows, although by rows computed faster on activations packed earlier).
bool qgemm_split_by_rows(int64_t rows, int64_t columns, int64_t row_panel, int threads);
void qgemm_rows(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point, const int32_t* bias, int64_t m_begin,
                int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy);

}  // namespace dyad
