#include "lib/eval/classification.h"

namespace dyad {

Top1 top1_accuracy(const Tensor& logits, const Tensor& labels) {
  if (logits.rank() != 2) fail("logits must be [N, classes], got {}", shape_to_string(logits.shape()));
  if (labels.rank() != 1 || labels.dim(0) != logits.dim(0))
    fail("labels must be [{}], got {}", logits.dim(0), shape_to_string(labels.shape()));
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  Top1 result;
  result.total = n;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (logits.get_as_double(i * classes + c) > logits.get_as_double(i * classes + best)) best = c;
    const int64_t label = labels.get_as_int64(i);
    if (label < 0 || label >= classes) fail("label {} at row {} is outside [0, {})", label, i, classes);
    result.correct += best == label;
  }
  return result;
}

int64_t rows_with_same_argmax(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.rank() == 0)
    fail("score tensors differ in shape: {} and {}", shape_to_string(a.shape()), shape_to_string(b.shape()));
  const int64_t width = a.dim(a.rank() - 1), rows = width ? a.numel() / width : 0;
  auto argmax = [width](const Tensor& t, int64_t row) {
    int64_t best = 0;
    for (int64_t c = 1; c < width; ++c)
      if (t.get_as_double(row * width + c) > t.get_as_double(row * width + best)) best = c;
    return best;
  };
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r) same += argmax(a, r) == argmax(b, r);
  return same;
}

}  // namespace dyad
