// Executor-side fusion of the integer emitter's layer pattern
//
//   acc = ConvInteger(x_u8, W_s8 const, x_zp const)   acc_b = Add(acc, B_i32 const)
//   y_u8 = ai.dyad.DyadicRequant(acc_b, M, D, H, ZP, QMIN, QMAX)     (all constant, D = 2^s)
//
// into one ai.dyad.exec.ConvIntegerRequant node that runs on the integer GEMM kernels with the
// bias and the dyadic rescale in their output stage: one pass instead of three, no int32 tensor
// in between. The fused node computes the same integers (lib/quant/dyadic.h is the rescale of
// both); the intermediate values are simply never materialised.
//
// Also: a table lookup Cast(x_u8 → int32) [+ Add(channel offsets const)] + Gather(table const, ·)
// becomes one ai.dyad.exec.TableLookup(x, table[, offsets]) that indexes with x's bytes directly.
#pragma once
#include "lib/ir/graph.h"

namespace dyad {

// Rewrites every matching pattern in g (not inside subgraphs); returns how many it fused.
int fuse_integer_layers(Graph& g);

inline constexpr const char* kExecDomain = "ai.dyad.exec";

}  // namespace dyad
