// Accuracy of classifier outputs against integer labels.
#pragma once
#include "lib/ir/tensor.h"

namespace dyad {

struct Top1 {
  int64_t correct = 0, total = 0;
  double percent() const { return total ? 100.0 * static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

// logits: [N, classes] (any float or integer type); labels: [N] integers. Ties go to the lowest
// class index, as numpy's argmax does. Throws Error on mismatched shapes or labels out of range.
Top1 top1_accuracy(const Tensor& logits, const Tensor& labels);

// Rows of the last axis (a classifier's images, a CTC model's time steps) whose largest entry is
// at the same index in `a` and `b`, two score tensors of one shape; the first of equal entries
// counts, as numpy's argmax does. Throws Error on different shapes.
int64_t rows_with_same_argmax(const Tensor& a, const Tensor& b);

}  // namespace dyad
