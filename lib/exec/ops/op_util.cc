#include "lib/exec/ops/op_util.h"

namespace dyad::ops {

int normalize_axis(const KernelContext& ctx, int64_t axis, int rank) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max(rank, 1)) ctx.fail("axis {} is out of range for rank {}", axis, rank);
  return static_cast<int>(a);
}

Shape broadcast_shapes(const KernelContext& ctx, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      ctx.fail("shapes {} and {} cannot be broadcast together", shape_to_string(a), shape_to_string(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape) {
  const size_t rank = out_shape.size(), offset = rank - shape.size();
  std::vector<int64_t> strides(rank, 0);
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i + offset] = shape[i] == 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

size_t element_size(const KernelContext& ctx, DType dtype) {
  const int bits = dtype_bits(dtype);
  if (bits < 8) ctx.fail("type {} is not supported here", dtype_name(dtype));
  return static_cast<size_t>(bits / 8);
}

std::vector<int64_t> optional_ints(const KernelContext& ctx, size_t input) {
  if (!ctx.has(input)) return {};
  return ctx.in(input).to_int64_vector();
}

std::vector<int64_t> axes_from_attr_or_input(const KernelContext& ctx, size_t input) {
  if (ctx.node.has("axes")) return ctx.node.get_ints("axes");
  return optional_ints(ctx, input);
}

float apply_activation(const std::string& name, float x, float alpha, float beta) {
  if (name == "Sigmoid") return 1.0f / (1.0f + std::exp(-x));
  if (name == "Tanh") return std::tanh(x);
  if (name == "Relu") return std::max(x, 0.0f);
  if (name == "Affine") return alpha * x + beta;
  if (name == "LeakyRelu") return x >= 0 ? x : alpha * x;
  if (name == "ThresholdedRelu") return x > alpha ? x : 0.0f;
  if (name == "ScaledTanh") return alpha * std::tanh(beta * x);
  if (name == "HardSigmoid") return std::clamp(alpha * x + beta, 0.0f, 1.0f);
  if (name == "Elu") return x >= 0 ? x : alpha * (std::exp(x) - 1.0f);
  if (name == "Softsign") return x / (1.0f + std::fabs(x));
  if (name == "Softplus") return std::log1p(std::exp(x));
  throw Error("unsupported RNN activation '" + name + "'");
}

}  // namespace dyad::ops
