// Shared pieces of the quantization ops: saturating stores and the mapping from an element to
// its scale / zero point (per tensor, per axis, or per block along an axis).
#pragma once
#include "lib/exec/kernel.h"

namespace dyad::ops {

// Writes round-already-applied value v into element i of y, saturating to y's integer range.
void store_quantized(Tensor& y, int64_t i, double v);

// Index of the scale / zero-point entry for element i of a tensor of shape `shape`.
class QuantParamIndex {
 public:
  // scale_shape: [] or [1] per tensor; [D] per axis; same rank as x for blocked.
  QuantParamIndex(const KernelContext& ctx, const Shape& shape, const Shape& scale_shape, int64_t axis,
                  int64_t block_size);
  int64_t operator()(int64_t i) const {
    if (mode_ == 0) return 0;
    const int64_t coord = (i / inner_) % dim_;
    if (mode_ == 1) return coord;
    const int64_t outer = i / (inner_ * dim_), inner = i % inner_;
    return (outer * blocks_ + coord / block_) * inner_ + inner;
  }

 private:
  int mode_ = 0;  // 0 per tensor, 1 per axis, 2 blocked
  int64_t inner_ = 1, dim_ = 1, block_ = 1, blocks_ = 1;
};

}  // namespace dyad::ops
