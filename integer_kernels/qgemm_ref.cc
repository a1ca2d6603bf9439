// The scalar reference of the integer GEMM: the normative definition the SIMD variants must
// match bit for bit. Written for clarity, not speed.
#include <cstddef>

#include "integer_kernels/qgemm_internal.h"

namespace dyad::qgemm_detail {

void qu8_qs8_gemm__ref(const QPackedWeights& w, const QPackedActivations& x, int32_t x_zero_point, const int32_t* bias,
                       int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, QOutput output, const QOutputStage& stage, void* y, int64_t ldy) {
  const OutputStage out{w, x_zero_point, bias, output, stage, y, ldy};
  for (int64_t r = m_begin; r < m_end; ++r)
    for (int64_t c = n_begin; c < n_end; ++c) {
      // uint32 arithmetic: the int32 accumulator wraps like the ONNX integer ops, without UB.
      uint32_t acc = bias ? static_cast<uint32_t>(bias[r]) : 0u;
      for (int64_t kk = 0; kk < w.k; ++kk) {
        const int32_t xv = static_cast<int32_t>(x.data[static_cast<size_t>(kk * x.n + c)]) - x_zero_point;
        acc += static_cast<uint32_t>(static_cast<int32_t>(w.data[static_cast<size_t>(r * w.k + kk)]) * xv);
      }
      out.write(r, c, static_cast<int32_t>(acc));
    }
}

}  // namespace dyad::qgemm_detail
