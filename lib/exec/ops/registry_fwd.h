// Declarations of each op family's registration function (see registry.cc).
#pragma once
#include <map>
#include <string>

#include "lib/exec/kernel.h"

namespace dyad {

using Registry = std::map<std::string, KernelFn>;

namespace ops {

void register_unary_ops(Registry& r);
void register_binary_ops(Registry& r);
void register_matmul_ops(Registry& r);
void register_conv_ops(Registry& r);
void register_conv_transpose_ops(Registry& r);
void register_conv_integer_ops(Registry& r);
void register_pool_ops(Registry& r);
void register_norm_ops(Registry& r);
void register_softmax_ops(Registry& r);
void register_shape_ops(Registry& r);
void register_gather_ops(Registry& r);
void register_reduce_ops(Registry& r);
void register_resize_ops(Registry& r);
void register_rnn_ops(Registry& r);
void register_control_ops(Registry& r);
void register_quant_ops(Registry& r);
void register_dyad_function_ops(Registry& r);  // ai.dyad.*, keyed "ai.dyad.<name>"

}  // namespace ops

}  // namespace dyad
