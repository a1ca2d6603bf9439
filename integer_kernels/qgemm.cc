// Packing, dispatch and path counting for the integer GEMM variants.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "integer_kernels/forced_isa.h"
#include "integer_kernels/qgemm_internal.h"
#include "lib/ir/error.h"

namespace dyad {

using namespace qgemm_detail;

namespace {

std::atomic<int64_t> g_calls[kQIsaCount];
std::atomic<int64_t> g_rows_in_lanes_calls;

int64_t round_up(int64_t v, int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

}  // namespace

namespace {

constexpr int64_t kChunk = QPackedActivations::kTileColumns;

// Where column c's four bytes go (qgemm_interleave_quad), in chunks of `tile_columns`.
inline int64_t quad_column_at(int64_t c, int64_t chunk_stride, int64_t tile_columns = kChunk) {
  return (c / tile_columns) * chunk_stride + (c % tile_columns) * 4;
}

// Interleaves columns from c while c + 16 <= end; returns where it stopped. SSE2 (every x86-64
// CPU) turns sixteen columns into 64 bytes with two rounds of unpacks; sixteen columns from a
// multiple of 16 lie in one 32-column chunk.
int64_t interleave_sixteens(const uint8_t* const rows[4], int64_t c, int64_t end, uint8_t* dst, int64_t chunk_stride) {
#if defined(__SSE2__)
  for (; c + 16 <= end; c += 16) {
    auto load = [&](int j) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[j] + c)); };
    const __m128i a = load(0), b = load(1), cc = load(2), d = load(3);
    const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
    const __m128i cd_lo = _mm_unpacklo_epi8(cc, d), cd_hi = _mm_unpackhi_epi8(cc, d);
    __m128i* out = reinterpret_cast<__m128i*>(dst + quad_column_at(c, chunk_stride));
    _mm_storeu_si128(out + 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(out + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(out + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
    _mm_storeu_si128(out + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
  }
#else
  (void)rows, (void)end, (void)dst, (void)chunk_stride;
#endif
  return c;
}

}  // namespace

namespace qgemm_detail {

void interleave_quad__ref(const uint8_t* const rows[4], int64_t n, uint8_t* dst, int64_t chunk_stride, int64_t tile_columns) {
  for (int64_t c = 0; c < n; ++c)
    for (int j = 0; j < 4; ++j) dst[quad_column_at(c, chunk_stride, tile_columns) + j] = rows[j][c];
}

void interleave_quad_strided__ref(const uint8_t* const rows[4], int64_t width, int64_t first, int64_t step, int64_t count,
                                  uint8_t pad, uint8_t* dst) {
  for (int64_t t = 0; t < count; ++t) {
    const int64_t i = first + t * step;
    for (int j = 0; j < 4; ++j) dst[4 * t + j] = rows[j] && i >= 0 && i < width ? rows[j][i] : pad;
  }
}

void interleave_phase__ref(const uint8_t* const planes[4], int64_t height, int64_t width, int64_t first_row, int64_t row_step,
                           int64_t rows, int64_t first_col, int64_t col_step, int64_t cols, uint8_t pad, uint8_t* dst) {
  for (int64_t r = 0; r < rows; ++r, dst += 4 * cols) {
    const int64_t ih = first_row + r * row_step;
    if (ih < 0 || ih >= height) {
      std::memset(dst, pad, static_cast<size_t>(4 * cols));
      continue;
    }
    const uint8_t* in[4];
    for (int j = 0; j < 4; ++j) in[j] = planes[j] ? planes[j] + ih * width : nullptr;
    interleave_quad_strided__ref(in, width, first_col, col_step, cols, pad, dst);
  }
}

}  // namespace qgemm_detail

void qgemm_interleave_phase(const uint8_t* const planes[4], int64_t height, int64_t width, int64_t first_row, int64_t row_step,
                            int64_t rows, int64_t first_col, int64_t col_step, int64_t cols, uint8_t pad, uint8_t* dst) {
  if (qgemm_isa_best() == QIsa::Avx512Vnni)
    return qgemm_detail::interleave_phase__avx512(planes, height, width, first_row, row_step, rows, first_col, col_step, cols, pad, dst);
  qgemm_detail::interleave_phase__ref(planes, height, width, first_row, row_step, rows, first_col, col_step, cols, pad, dst);
}

void qgemm_interleave_quad(const uint8_t* const rows[4], int64_t n, uint8_t* dst, int64_t chunk_stride, int64_t tile_columns) {
  DYAD_CHECK(tile_columns > 0 && tile_columns <= kChunk);
  if (qgemm_isa_best() == QIsa::Avx512Vnni) return qgemm_detail::interleave_quad__avx512(rows, n, dst, chunk_stride, tile_columns);
  if (tile_columns != kChunk) return qgemm_detail::interleave_quad__ref(rows, n, dst, chunk_stride, tile_columns);
  const int64_t c = interleave_sixteens(rows, 0, n, dst, chunk_stride);
  const uint8_t* const tail[4] = {rows[0] + c, rows[1] + c, rows[2] + c, rows[3] + c};
  qgemm_detail::interleave_quad__ref(tail, n - c, dst + quad_column_at(c, chunk_stride), chunk_stride, kChunk);  // c is a multiple of 32 or the tail is in c's chunk
}

const char* qisa_name(QIsa isa) {
  switch (isa) {
    case QIsa::Avx512Vnni: return "avx512vnni";
    case QIsa::Avx2: return "avx2";
    default: return "reference";
  }
}

bool qisa_supported(QIsa isa) {
  switch (isa) {
    case QIsa::Avx512Vnni: return avx512vnni_cpu();
    case QIsa::Avx2: return avx2_cpu();
    default: return true;
  }
}

QIsa qgemm_isa_best() {
  static const QIsa best = [] {
    if (const std::string forced = forced_isa(); !forced.empty()) {
      for (int i = 0; i < kQIsaCount; ++i)
        if (forced == qisa_name(static_cast<QIsa>(i))) {
          if (!qisa_supported(static_cast<QIsa>(i))) fail("DYAD_FORCE_ISA={}: this CPU cannot run it", forced);
          return static_cast<QIsa>(i);
        }
      fail("DYAD_FORCE_ISA={}: unknown (use reference, avx2 or avx512vnni)", forced);
    }
    if (qisa_supported(QIsa::Avx512Vnni)) return QIsa::Avx512Vnni;
    return qisa_supported(QIsa::Avx2) ? QIsa::Avx2 : QIsa::Reference;
  }();
  return best;
}

int64_t qgemm_calls(QIsa isa) { return g_calls[static_cast<int>(isa)].load(); }
int64_t qgemm_rows_in_lanes_calls() { return g_rows_in_lanes_calls.load(); }

QWeightLayout qgemm_layout_for(QIsa isa, int64_t m, int64_t n, int64_t k, bool transposed_output) {
  if (isa != QIsa::Avx512Vnni || m <= 0 || n <= 0) return QWeightLayout::ColumnsInLanes;
  // Cycles per output, roughly: k / 128 for the products (two 64-product vpdpbusd per cycle)
  // over the fraction of lanes doing useful work (columns in 32-column tiles, or rows in 64-row
  // panels), plus the epilogue: about 0.3 of a cycle from whole vectors, 1 when outputs are
  // transposed into rows (RowsInLanes). Fitted to 256 x 196 x 256 and 256 x 256 x 256 products
  // when RowsInLanes scattered its results; rechecked with its transposing epilogue by
  // `qgemm_vs_onednn --kernel`, which still finds each benchmark shape as fast or faster with
  // the layout this picks.
  const double products = static_cast<double>(k) / 128.0;
  const double columns_filled = static_cast<double>(n) / static_cast<double>(round_up(n, 32));
  const double rows_filled = static_cast<double>(m) / static_cast<double>(round_up(m, 64));
  // Storing Y transposed swaps the epilogues' costs: RowsInLanes stores its column vectors as
  // they are, ColumnsInLanes copies its rows across.
  const double columns_cost = products / columns_filled + (transposed_output ? 1.0 : 0.3);
  const double rows_cost = products / rows_filled + (transposed_output ? 0.3 : 1.0);
  return rows_cost < columns_cost ? QWeightLayout::RowsInLanes : QWeightLayout::ColumnsInLanes;
}

bool qgemm_split_by_rows(int64_t rows, int64_t columns, int64_t row_panel, int threads) {
  if (threads <= 1 || rows <= 0 || columns <= 0) return false;
  const int64_t tiles = (columns + kChunk - 1) / kChunk, panels = (rows + row_panel - 1) / row_panel;
  if (panels < threads) return false;
  if (tiles < threads) return true;
  // The busiest thread's share over an even one, each way.
  const double by_columns = static_cast<double>(std::min(columns, (tiles + threads - 1) / threads * kChunk)) * threads / static_cast<double>(columns);
  const double by_rows = static_cast<double>(std::min(rows, (panels + threads - 1) / threads * row_panel)) * threads / static_cast<double>(rows);
  return by_rows < by_columns;
}

int64_t qgemm_row_panel(const QPackedWeights& w) { return w.layout == QWeightLayout::RowsInLanes ? kLaneRows : kQgemmRowAlign; }

int64_t qgemm_tile_columns_for(const QPackedWeights& w, int64_t n) {
  constexpr int64_t kNarrow = QPackedActivations::kNarrowTileColumns;
  const bool narrow = w.layout == QWeightLayout::RowsInLanes && (n % kNarrow == 0 || n % kNarrow >= 3);
  return narrow ? kNarrow : QPackedActivations::kTileColumns;
}

QPackedWeights qgemm_pack_weights(QIsa isa, const int8_t* w, int64_t m, int64_t k, int64_t ldw, QWeightLayout layout) {
  QPackedWeights p;
  p.isa = isa;
  p.layout = isa == QIsa::Avx512Vnni ? layout : QWeightLayout::ColumnsInLanes;
  p.m = m;
  p.k = k;
  p.row_sums.assign(static_cast<size_t>(m), 0);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < k; ++c) p.row_sums[static_cast<size_t>(r)] += w[r * ldw + c];
  if (isa == QIsa::Reference) {
    p.data.resize(static_cast<size_t>(m * k));
    for (int64_t r = 0; r < m; ++r) std::memcpy(p.data.data() + r * k, w + r * ldw, static_cast<size_t>(k));
    return p;
  }
  // [M/rows][K/4][rows][4], rows 8 (ColumnsInLanes: one 32-bit broadcast feeds a row's four
  // products) or 64 (RowsInLanes: four vectors of sixteen rows' four k).
  const int64_t rows = p.layout == QWeightLayout::RowsInLanes ? kLaneRows : kVnniRows;
  const int64_t k4 = round_up(k, 4) / 4, panels = round_up(m, rows) / rows;
  p.data.assign(static_cast<size_t>(panels * k4 * rows * 4), 0);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < k; ++c)
      p.data[static_cast<size_t>(((r / rows * k4 + c / 4) * rows + r % rows) * 4 + c % 4)] = w[r * ldw + c];
  return p;
}

namespace {

// The fields every layout sets; the caller then sizes `data`.
void reset_header(QIsa isa, int64_t k, int64_t n, QActivationLayout layout, QPackedActivations& p) {
  p.isa = isa;
  p.k = k;
  p.n = n;
  p.layout = layout;
  p.base = nullptr;
  p.quad_offsets.clear();
  p.tile_columns = QPackedActivations::kTileColumns;
  p.row_stride = 0;
}

}  // namespace

void qgemm_activations_reset(QIsa isa, int64_t k, int64_t n, QPackedActivations& p, int64_t tile_columns) {
  reset_header(isa, k, n, QActivationLayout::Tiled, p);
  if (isa == QIsa::Reference) {  // plain [K][N]
    p.data.resize(static_cast<size_t>(k * n));
    return;
  }
  // Tiled: [ceil(N/W)][K/4][W][4], the four k of one column adjacent, as vpdpbusd reads them;
  // padded k rows are packed as 0 (their weights are 0 too), and so are the columns past N.
  DYAD_CHECK(tile_columns == QPackedActivations::kTileColumns || (isa == QIsa::Avx512Vnni && tile_columns == QPackedActivations::kNarrowTileColumns));
  const int64_t kTile = tile_columns;
  p.tile_columns = kTile;
  const int64_t k4 = round_up(k, 4) / 4, tiles = (n + kTile - 1) / kTile;
  p.quad_pitch = kTile * 4;
  p.tile_stride = k4 * kTile * 4;
  p.data.resize(static_cast<size_t>(tiles * p.tile_stride));
  if (const int64_t used = n % kTile; used != 0)
    for (int64_t q = 0; q < k4; ++q) std::memset(p.data.data() + (tiles - 1) * p.tile_stride + q * kTile * 4 + used * 4, 0, static_cast<size_t>((kTile - used) * 4));
}

void qgemm_activations_reset_strided(QIsa isa, int64_t k, int64_t n, QPackedActivations& p) {
  DYAD_CHECK(isa != QIsa::Reference);
  reset_header(isa, k, n, QActivationLayout::Strided, p);
  p.quad_pitch = n * 4;
  p.tile_stride = QPackedActivations::kTileColumns * 4;
  p.data.resize(static_cast<size_t>(round_up(k, 4) * n));
}

void qgemm_pack_activation_rows(QPackedActivations& p, int64_t row_begin, int64_t row_end, const QRowSource& row) {
  const int64_t n = p.n;
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < static_cast<size_t>(5 * n)) scratch.resize(static_cast<size_t>(5 * n));
  if (p.isa == QIsa::Reference) {
    for (int64_t r = row_begin; r < row_end; ++r) {
      const uint8_t* src = row(r, scratch.data());
      if (src != p.data.data() + r * n) std::memcpy(p.data.data() + r * n, src, static_cast<size_t>(n));
    }
    return;
  }
  DYAD_CHECK(row_begin % 4 == 0 && p.layout != QActivationLayout::Indirect);
  uint8_t* zeros = scratch.data() + 4 * n;
  std::memset(zeros, 0, static_cast<size_t>(n));
  for (int64_t r0 = row_begin; r0 < row_end; r0 += 4) {
    const uint8_t* rows[4];
    for (int64_t j = 0; j < 4; ++j) rows[j] = r0 + j < p.k ? row(r0 + j, scratch.data() + j * n) : zeros;
    qgemm_interleave_quad(rows, n, p.data.data() + (r0 / 4) * p.quad_pitch, p.tile_stride, p.tile_columns);
  }
}

QPackedActivations qgemm_pack_activations(QIsa isa, const uint8_t* x, int64_t k, int64_t n, int64_t ldx, int64_t tile_columns) {
  QPackedActivations p;
  qgemm_activations_reset(isa, k, n, p, tile_columns);
  qgemm_pack_activation_rows(p, 0, isa == QIsa::Reference ? k : round_up(k, 4), [&](int64_t r, uint8_t*) { return x + r * ldx; });
  return p;
}

QPackedActivations qgemm_activations_indirect(QIsa isa, int64_t k, int64_t n, const uint8_t* base, std::vector<int64_t> quad_offsets) {
  DYAD_CHECK(isa != QIsa::Reference && static_cast<int64_t>(quad_offsets.size()) == round_up(k, 4) / 4);
  QPackedActivations p;
  reset_header(isa, k, n, QActivationLayout::Indirect, p);
  p.base = base;
  p.quad_offsets = std::move(quad_offsets);
  p.tile_stride = QPackedActivations::kTileColumns * 4;
  return p;
}

void qgemm_pack_activation_columns(QPackedActivations& p, int64_t col_begin, int64_t col_end, const uint8_t* xt, int64_t ldx) {
  DYAD_CHECK(p.layout == QActivationLayout::Tiled && col_begin >= 0 && col_begin <= col_end && col_end <= p.n);
  const int64_t k = p.k, n = p.n;
  if (p.isa == QIsa::Reference) {
    for (int64_t c = col_begin; c < col_end; ++c)
      for (int64_t r = 0; r < k; ++r) p.data[static_cast<size_t>(r * n + c)] = xt[c * ldx + r];
    return;
  }
  // A column's four k are adjacent in its row of xt, so whole groups copy at once; a partial
  // last group leaves the zeros of a padded k row.
  // (Fixed-size copies for the whole groups: one 4-byte move each, where a copy of variable size
  // was a call per group and made packing take as long as the product it feeds.)
  const int64_t whole = k / 4, quad_pitch = p.quad_pitch;
  for (int64_t c = col_begin; c < col_end; ++c) {
    const uint8_t* src = xt + c * ldx;
    uint8_t* dst = p.data.data() + quad_column_at(c, p.tile_stride, p.tile_columns);
    for (int64_t q = 0; q < whole; ++q) std::memcpy(dst + q * quad_pitch, src + q * 4, 4);
    if (const int64_t bytes = k - whole * 4; bytes > 0) {
      uint8_t last[4] = {0, 0, 0, 0};
      std::memcpy(last, src + whole * 4, static_cast<size_t>(bytes));
      std::memcpy(dst + whole * quad_pitch, last, 4);
    }
  }
}

QPackedActivations qgemm_activations_rows(QIsa isa, const uint8_t* xt, int64_t k, int64_t n, int64_t ldx) {
  DYAD_CHECK(isa == QIsa::Avx512Vnni && k % 4 == 0 && ldx >= k && ldx > 0);
  QPackedActivations p;
  reset_header(isa, k, n, QActivationLayout::Rows, p);
  p.base = xt;
  p.quad_pitch = 4;
  p.tile_columns = QPackedActivations::kNarrowTileColumns;  // the 64x6 kernel's tiles, read in groups as its narrow chunks
  p.tile_stride = p.tile_columns * 4;
  p.row_stride = ldx;
  return p;
}

QPackedActivations qgemm_pack_activations_transposed(QIsa isa, const uint8_t* xt, int64_t k, int64_t n, int64_t ldx, int64_t tile_columns) {
  QPackedActivations p;
  qgemm_activations_reset(isa, k, n, p, tile_columns);
  qgemm_pack_activation_columns(p, 0, n, xt, ldx);
  return p;
}

namespace {

// The 8x32 kernel stores rows of 32 columns only; for a transposed output it computes blocks of
// columns into a buffer of rows, which are then copied across to Y's columns. Each block starts
// on a 32-column chunk, so the kernel reads it through quad pointers moved to that chunk, as a
// product of its own.
void qgemm_8x32_transposed(const QPackedWeights& w, const QActivationAddressing& acts, int32_t x_zero_point, const int32_t* bias,
                           int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage,
                           void* y, int64_t ldy) {
  constexpr int64_t kBlockColumns = 2 * kChunk;
  const int64_t k4 = round_up(w.k, 4) / 4, bytes = output == QOutput::Int32 ? 4 : 1;
  thread_local std::vector<const uint8_t*> moved;
  thread_local std::vector<uint8_t> rows;
  moved.resize(static_cast<size_t>(k4));
  rows.resize(static_cast<size_t>(m_end * kBlockColumns * bytes));
  QOutputStage as_rows = stage;
  as_rows.transposed = false;
  as_rows.column_pitch = as_rows.kept_columns = 0;
  for (int64_t block = n_begin / kChunk * kChunk; block < n_end; block += kBlockColumns) {
    for (int64_t q = 0; q < k4; ++q) moved[static_cast<size_t>(q)] = acts.quads[q] + acts.chunk_offset(block);
    const QActivationAddressing block_acts{moved.data(), acts.tile_stride, acts.tile_columns};
    const int64_t first = std::max(n_begin, block) - block, last = std::min(n_end, block + kBlockColumns) - block;
    qu8_qs8_gemm_8x32c4__avx512vnni(w, block_acts, x_zero_point, bias, m_begin, m_end, first, last, output, as_rows, rows.data(),
                                    kBlockColumns);
    for (int64_t c = first; c < last; ++c) {
      const int64_t col = stage.column_of(block + c);
      if (col < 0) continue;
      // Fixed-size element copies (a copy of variable size is a call per element).
      auto copy_column = [&](auto element) {
        using T = decltype(element);
        T* dst = reinterpret_cast<T*>(static_cast<uint8_t*>(y) + (col * ldy + m_begin) * bytes);
        const uint8_t* src = rows.data() + (m_begin * kBlockColumns + c) * bytes;
        for (int64_t r = m_begin; r < m_end; ++r, src += kBlockColumns * bytes) std::memcpy(dst++, src, sizeof(T));
      };
      if (bytes == 4) copy_column(int32_t{});
      else copy_column(uint8_t{});
    }
  }
}

}  // namespace

void qgemm(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point, const int32_t* bias,
           int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy) {
  qgemm_rows(w, x, x_zero_point, bias, 0, w.m, n_begin, n_end, output, stage, y, ldy);
}

void qgemm_rows(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point, const int32_t* bias, int64_t m_begin,
                int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy) {
  DYAD_CHECK(w.isa == x.isa && w.k == x.k);
  DYAD_CHECK(n_begin >= 0 && n_begin <= n_end && n_end <= x.n);
  DYAD_CHECK(m_begin >= 0 && m_begin <= m_end && m_end <= w.m && m_begin % kQgemmRowAlign == 0);
  DYAD_CHECK(output == QOutput::Int32 || stage.multipliers != nullptr);
  // Narrow chunks, and A's rows read in place (whose tile_columns is the narrow width), are for
  // the RowsInLanes kernel only.
  DYAD_CHECK(x.tile_columns == QPackedActivations::kTileColumns || w.layout == QWeightLayout::RowsInLanes);
  g_calls[static_cast<int>(w.isa)].fetch_add(1, std::memory_order_relaxed);
  if (w.isa == QIsa::Reference) {
    DYAD_CHECK(x.quad_offsets.empty());
    qu8_qs8_gemm__ref(w, x, x_zero_point, bias, m_begin, m_end, n_begin, n_end, output, stage, y, ldy);
    return;
  }
  // Where each quad of k starts: the variants read activations only through this table and the
  // chunk stride.
  const int64_t k4 = round_up(w.k, 4) / 4;
  thread_local std::vector<const uint8_t*> quads;
  quads.resize(static_cast<size_t>(k4));
  for (int64_t q = 0; q < k4; ++q) quads[static_cast<size_t>(q)] = x.quad(q);
  const QActivationAddressing acts{quads.data(), x.tile_stride, x.tile_columns, x.row_stride};
  if (w.layout == QWeightLayout::RowsInLanes) {
    g_rows_in_lanes_calls.fetch_add(1, std::memory_order_relaxed);
    qu8_qs8_gemm_64x6c4__avx512vnni(w, acts, x_zero_point, bias, m_begin, m_end, n_begin, n_end, output, stage, y, ldy);
  } else if (w.isa == QIsa::Avx512Vnni) {
    if (stage.transposed) qgemm_8x32_transposed(w, acts, x_zero_point, bias, m_begin, m_end, n_begin, n_end, output, stage, y, ldy);
    else qu8_qs8_gemm_8x32c4__avx512vnni(w, acts, x_zero_point, bias, m_begin, m_end, n_begin, n_end, output, stage, y, ldy);
  } else {
    qu8_qs8_gemm_4x8c4__avx2(w, acts, x_zero_point, bias, m_begin, m_end, n_begin, n_end, output, stage, y, ldy);
  }
}

}  // namespace dyad
