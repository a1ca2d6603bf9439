// Per-variant entry points behind qgemm(); internal to integer_kernels.
#pragma once
#include "integer_kernels/qgemm.h"

namespace dyad::qgemm_detail {

// Rows per register tile and activation columns per tile of the VNNI kernel.
constexpr int kVnniRows = 8;
constexpr int kVnniCols = 32;

bool avx512vnni_cpu();
bool avx2_cpu();

// The reference: plain loops, acc = bias + sum W * (X - z) in wrapping int32, then dyadic.h.
void qu8_qs8_gemm__ref(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point, const int32_t* bias,
                       int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy);
void qu8_qs8_gemm_8x32c4__avx512vnni(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point,
                                     const int32_t* bias, int64_t n_begin, int64_t n_end, QOutput output,
                                     const QOutputStage& stage, void* y, int64_t ldy);
// On the VNNI packing (AVX2 and AVX-512 variants share it).
void qu8_qs8_gemm_4x8c4__avx2(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point, const int32_t* bias,
                              int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy);

}  // namespace dyad::qgemm_detail
