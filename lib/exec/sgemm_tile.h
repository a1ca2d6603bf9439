// A register-blocked float GEMM for convolutions and matmuls:
//
//   C[m][n] = bias[m] + sum_k A[m][k] * B[k][n]      (row-major; C fully overwritten)
//
// A is packed once into panels of kRows rows ([M/kRows][K][kRows], zero padded); B is read in
// place with row stride ldb, kCols columns at a time, so an im2col matrix needs no second copy.
// Each call computes the column range [n_begin, n_end) for all rows; callers split columns across
// threads. Variants: a scalar reference (sgemm_tile_ref) and an AVX-512 one chosen at run time
// (sgemm_tile picks; sgemm_tile_avx512_available tells). Results differ only by float summation
// order, which tests/sgemm_tile_test.cc bounds against a double-precision reference.
#pragma once
#include <cstdint>
#include <vector>

namespace dyad {

constexpr int kSgemmRows = 8;   // output rows per register tile
constexpr int kSgemmCols = 32;  // output columns per register tile (two 16-float vectors)

// Packs row-major A[M][K] (row stride lda) into panels; returns ceil(M/8)*8*K floats.
std::vector<float> sgemm_pack_a(const float* a, int64_t m, int64_t k, int64_t lda);

using SgemmTileFn = void (*)(const float* packed_a, int64_t m, int64_t k, const float* b, int64_t ldb,
                             int64_t n_begin, int64_t n_end, float* c, int64_t ldc, const float* bias);

void sgemm_tile_ref(const float* packed_a, int64_t m, int64_t k, const float* b, int64_t ldb, int64_t n_begin,
                    int64_t n_end, float* c, int64_t ldc, const float* bias);
void sgemm_tile_avx512(const float* packed_a, int64_t m, int64_t k, const float* b, int64_t ldb, int64_t n_begin,
                       int64_t n_end, float* c, int64_t ldc, const float* bias);
// True if the CPU has AVX-512F and DYAD_DISABLE_AVX512 is not set to a non-zero value.
bool sgemm_tile_avx512_available();

// The fastest variant this CPU runs, or nullptr if none beats Eigen (no AVX-512).
SgemmTileFn sgemm_tile_best();

// Implicit-GEMM convolution: B is never materialized. The source is a stack of planes with the
// output's own size (height x width), channel_stride elements apart; tap t of channel c reads, for
// output pixel p = (oh, ow), the element at c * channel_stride + offset[t] + p, which is inside
// the plane when 0 <= oh + dy[t] < height and 0 <= ow + dx[t] < width (other lanes read as 0):
//   y[m][p] = bias[m] + sum_{c,t} A[m][c * taps + t] * src_t(c, p)        for p in [p_begin, p_end)
// A stride-1 convolution whose output is as large as its input uses the input itself as the only
// plane (offset = dy * width + dx). A stride-s convolution uses the input split into s*s phase
// planes (rows and columns by residue mod s), so every tap again reads contiguous memory.
struct ImplicitTap {
  int64_t offset, dy, dx;
};
struct ImplicitConvShape {
  int64_t channels, height, width, channel_stride;
  std::vector<ImplicitTap> taps;  // in A's k order within a channel
};
void implicit_conv_ref(const float* packed_a, int64_t m, const ImplicitConvShape& shape, const float* src,
                       int64_t p_begin, int64_t p_end, float* y, const float* bias);
void implicit_conv_avx512(const float* packed_a, int64_t m, const ImplicitConvShape& shape, const float* src,
                          int64_t p_begin, int64_t p_end, float* y, const float* bias);

}  // namespace dyad
