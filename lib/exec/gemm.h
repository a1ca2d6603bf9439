// Float GEMM used by MatMul, Gemm, Conv (im2col) and the RNNs. Backed by Eigen's blocked GEMM,
// which uses OpenMP threads when called outside a parallel region.
#pragma once
#include <cstdint>

namespace dyad {

// C = alpha * op(A) * op(B) + beta * C, all row-major; op(X) = X or X^T. A is M x K after op,
// B is K x N after op; lda/ldb/ldc are row strides of the stored matrices. beta = 0 ignores C's
// previous content (even NaN).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace dyad
