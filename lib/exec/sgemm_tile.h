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

// Implicit-GEMM convolution for the common "same" case: 2-D, stride 1, output size equal to the
// input size (pads sum to the dilated kernel extent minus one). B is never materialized: for
// output pixel p and tap (c, kh, kw) the input sits at x[c][p + (kh*dh - ph)*W + kw*dw - pw], a
// contiguous run across a tile's pixels, with lanes whose tap falls in the padding masked to 0.
//   y[m][p] = bias[m] + sum_{c,kh,kw} A[m][(c*KH + kh)*KW + kw] * x[c][tap(p)]   for p in [p_begin, p_end)
struct SameConvShape {
  int64_t channels, height, width, kernel_h, kernel_w, pad_h, pad_w, dilation_h, dilation_w;
};
using SameConvFn = void (*)(const float* packed_a, int64_t m, const SameConvShape& shape, const float* x,
                            int64_t p_begin, int64_t p_end, float* y, const float* bias);
void same_conv_ref(const float* packed_a, int64_t m, const SameConvShape& shape, const float* x, int64_t p_begin,
                   int64_t p_end, float* y, const float* bias);
void same_conv_avx512(const float* packed_a, int64_t m, const SameConvShape& shape, const float* x, int64_t p_begin,
                      int64_t p_end, float* y, const float* bias);

}  // namespace dyad
