#include "lib/exec/float16_upcast.h"

#include <set>

namespace dyad {

namespace {

const std::set<std::string>& byte_moving_ops() {
  static const std::set<std::string> ops = {
      "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Shape", "Size",
      "Expand", "Tile", "Pad", "Gather", "GatherElements", "Identity", "Dropout", "Cast", "CastLike",
      "Constant", "ConstantOfShape", "If", "QuantizeLinear", "DequantizeLinear"};
  return ops;
}

Tensor widen(const Tensor& t) {
  Tensor f(DType::Float32, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) f.data<float>()[i] = half_to_float(t.data<uint16_t>()[i]);
  return f;
}

Tensor narrow(const Tensor& t) {
  Tensor h(DType::Float16, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) h.data<uint16_t>()[i] = float_to_half(t.data<float>()[i]);
  return h;
}

}  // namespace

bool needs_float16_upcast(const KernelContext& ctx) {
  if (byte_moving_ops().count(ctx.node.op_type)) return false;
  for (const Tensor* t : ctx.inputs)
    if (t && t->dtype() == DType::Float16) return true;
  return false;
}

void run_with_float16_upcast(KernelContext& ctx, KernelFn kernel) {
  std::vector<Tensor> widened(ctx.inputs.size());
  std::vector<const Tensor*> original = ctx.inputs;
  for (size_t i = 0; i < ctx.inputs.size(); ++i)
    if (ctx.inputs[i] && ctx.inputs[i]->dtype() == DType::Float16) {
      widened[i] = widen(*ctx.inputs[i]);
      ctx.inputs[i] = &widened[i];
    }
  kernel(ctx);
  ctx.inputs = original;
  for (auto& out : ctx.outputs)
    if (out.defined() && out.dtype() == DType::Float32) out = narrow(out);
}

}  // namespace dyad
