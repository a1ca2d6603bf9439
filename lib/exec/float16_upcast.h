// float16 tensors are computed in float32: inputs are widened before the kernel and float32
// outputs narrowed after it (round to nearest even), which is what ONNX's reference does too.
// Ops that only move bytes (Reshape, Gather, ...) see float16 as it is.
#pragma once
#include "lib/exec/kernel.h"

namespace dyad {

bool needs_float16_upcast(const KernelContext& ctx);
void run_with_float16_upcast(KernelContext& ctx, KernelFn kernel);

}  // namespace dyad
