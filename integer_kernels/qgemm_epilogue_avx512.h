// The AVX-512 GEMM kernels' shared epilogue: a tile's int32 sums, one row of 32 columns in two
// vectors, finished as qgemm's output stage (bias - z * rowsum, then int32 stores or
// requantize16 and a narrow to bytes), with the placement of wide columns (QOutputStage::
// column_pitch). Internal to integer_kernels; included by files compiled with AVX-512 BW, VL
// and VNNI.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "integer_kernels/qgemm_internal.h"
#include "integer_kernels/requantize_avx512.h"

namespace dyad::qgemm_detail {

inline __mmask16 lane_mask(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : count <= 0 ? 0 : static_cast<__mmask16>((1u << count) - 1);
}

// Lanes [lane_begin, lane_end) of a 32-lane tile that fall in its half h (sixteen lanes).
inline __mmask16 half_mask(int64_t lane_begin, int64_t lane_end, int h) {
  return static_cast<__mmask16>(lane_mask(lane_end - 16 * h) & ~lane_mask(lane_begin - 16 * h));
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

// A tile's two halves of lanes as lane_runs places them, lanes outside [lane_begin, lane_end)
// masked off. The same for every weight panel, so the drivers work them out once per column
// tile (two divisions and a loop each: a fifth of a small ResNet's time when every panel's
// epilogue redid them).
struct TileRuns {
  LaneRuns half[2];
};

inline TileRuns tile_runs(const QOutputStage& stage, int64_t col_base, int64_t lane_begin, int64_t lane_end) {
  TileRuns t;
  for (int h = 0; h < 2; ++h) {
    const __mmask16 valid = half_mask(lane_begin, lane_end, h);
    t.half[h] = lane_runs(stage, col_base + 16 * h, 16);
    for (int i = 0; i < t.half[h].count; ++i) t.half[h].mask[i] &= valid;
  }
  return t;
}

// base + index elements, in integer arithmetic: with a negative shift the address of lane 0 can
// lie before y (its lane is masked off), which pointer arithmetic may not express.
inline void* element_at(void* base, int64_t index, int64_t bytes) {
  return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(base) + static_cast<uintptr_t>(index * bytes));
}

// A weight panel's output stage, worked out once for all its tiles: each row's bias - z * rowsum
// and requantizer.
struct PanelStage {
  int32_t offset[kVnniRows];
  Requantizer requantizer[kVnniRows];
  bool all_folded = false;  // eight rows, all Requantizer::kFolded (the asm epilogue's case)
};

// Fills `p` in place: the pipelined driver keeps two, and copying a returned one in made 256^3
// with int32 output on two threads 15% slower (scratch driver, runs alternated).
inline void fill_panel_stage(const OutputStage& out, int64_t row0, int64_t rows, PanelStage& p) {
  const QOutputStage& stage = out.stage;
  p.all_folded = out.output != QOutput::Int32 && rows == kVnniRows;
  for (int64_t r = 0; r < rows; ++r) {
    p.offset[r] = static_cast<int32_t>(out.offset(row0 + r));
    if (out.output != QOutput::Int32) {
      p.requantizer[r] = make_requantizer(stage.multipliers[row0 + r], stage.zero_point_of(row0 + r), stage.qmin, stage.qmax);
      p.all_folded = p.all_folded && p.requantizer[r].kind == Requantizer::kFolded;
    }
  }
}

inline PanelStage panel_stage(const OutputStage& out, int64_t row0, int64_t rows) {
  PanelStage p;
  fill_panel_stage(out, row0, rows, p);
  return p;
}

// Finishes a tile's rows [row0, row0 + rows) from its accumulators (row r's two vectors at
// acc[2r], acc[2r + 1], lane i for product column col_base + i), storing lanes [lane_begin,
// lane_end) only: adds bias - z * rowsum, then stores the int32 sums or requantizes and narrows
// to bytes. One instance per output type and addressing, picked once per product: kRuns when
// the output drops wide columns (QOutputStage::column_pitch), else each half's lanes go to
// consecutive columns under one mask.
template <bool kBytes, bool kRuns>
void finish_rows(const __m512i* acc, const PanelStage& panel, int64_t rows, int64_t row0, int64_t col_base, int64_t lane_begin,
                 int64_t lane_end, const TileRuns* tile_runs, const OutputStage& out) {
  const __mmask16 masks[2] = {half_mask(lane_begin, lane_end, 0), half_mask(lane_begin, lane_end, 1)};
  const LaneRuns* runs = kRuns ? tile_runs->half : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    const __m512i offset = _mm512_set1_epi32(panel.offset[r]);
    const int64_t row_start = (row0 + r) * out.ldy;
    RequantizerVectors requantizer;
    if (kBytes) requantizer = vectors_of(panel.requantizer[r]);
    for (int h = 0; h < 2; ++h) {
      if (masks[h] == 0) continue;
      const __m512i sum = _mm512_add_epi32(acc[2 * r + h], offset);
      if (!kBytes) {
        if (kRuns)
          for (int i = 0; i < runs[h].count; ++i)
            _mm512_mask_storeu_epi32(element_at(out.y, row_start + runs[h].shift[i], 4), runs[h].mask[i], sum);
        else
          _mm512_mask_storeu_epi32(element_at(out.y, row_start + col_base + 16 * h, 4), masks[h], sum);
        continue;
      }
      // uint8 and int8 store the same low bytes: the values are already in range.
      const __m128i bytes = low_bytes16(requantize16(sum, requantizer));
      if (kRuns)
        for (int i = 0; i < runs[h].count; ++i)
          _mm_mask_storeu_epi8(element_at(out.y, row_start + runs[h].shift[i], 1), runs[h].mask[i], bytes);
      else
        _mm_mask_storeu_epi8(element_at(out.y, row_start + col_base + 16 * h, 1), masks[h], bytes);
    }
  }
}

using FinishFn = void (*)(const __m512i*, const PanelStage&, int64_t, int64_t, int64_t, int64_t, int64_t, const TileRuns*,
                          const OutputStage&);

inline FinishFn finish_for(const OutputStage& out) {
  const bool bytes = out.output != QOutput::Int32, runs = out.stage.column_pitch != 0;
  return bytes ? (runs ? finish_rows<true, true> : finish_rows<true, false>) : (runs ? finish_rows<false, true> : finish_rows<false, false>);
}

}  // namespace dyad::qgemm_detail
