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

}  // namespace dyad
