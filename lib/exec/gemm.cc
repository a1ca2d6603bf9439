#include "lib/exec/gemm.h"

#include <Eigen/Core>

namespace dyad {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  using Stride = Eigen::OuterStride<>;
  Eigen::Map<RowMat, 0, Stride> C(c, m, n, Stride(ldc));
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == T(0)) C.setZero();
    else C *= beta;
    return;
  }
  // A stored transposed is a column-major view of op(A); same for B.
  auto run = [&](const auto& A, const auto& B) {
    if (beta == T(0)) C.noalias() = alpha * (A * B);
    else {
      C *= beta;
      C.noalias() += alpha * (A * B);
    }
  };
  auto with_b = [&](const auto& A) {
    if (trans_b) run(A, Eigen::Map<const ColMat, 0, Stride>(b, k, n, Stride(ldb)));
    else run(A, Eigen::Map<const RowMat, 0, Stride>(b, k, n, Stride(ldb)));
  };
  if (trans_a) with_b(Eigen::Map<const ColMat, 0, Stride>(a, m, k, Stride(lda)));
  else with_b(Eigen::Map<const RowMat, 0, Stride>(a, m, k, Stride(lda)));
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace dyad
