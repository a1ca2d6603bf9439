// The table of every op the float executor runs. Each family file defines a
// register_<family>(Registry&) that adds its ops; this file calls them all once.
#include <algorithm>
#include <mutex>

#include "lib/exec/ops/registry_fwd.h"

namespace dyad {

namespace {

const Registry& registry() {
  static const Registry table = [] {
    Registry r;
    ops::register_unary_ops(r);
    ops::register_binary_ops(r);
    ops::register_matmul_ops(r);
    ops::register_conv_ops(r);
    ops::register_conv_transpose_ops(r);
    ops::register_conv_integer_ops(r);
    ops::register_pool_ops(r);
    ops::register_norm_ops(r);
    ops::register_softmax_ops(r);
    ops::register_shape_ops(r);
    ops::register_gather_ops(r);
    ops::register_reduce_ops(r);
    ops::register_resize_ops(r);
    ops::register_rnn_ops(r);
    ops::register_control_ops(r);
    ops::register_quant_ops(r);
    ops::register_dyad_function_ops(r);
    return r;
  }();
  return table;
}

}  // namespace

const Tensor& KernelContext::in(size_t i) const {
  if (!has(i)) fail("input {} is required but missing", i);
  return *inputs[i];
}

KernelFn find_kernel(const std::string& op_type) {
  auto it = registry().find(op_type);
  return it == registry().end() ? nullptr : it->second;
}

KernelFn find_node_kernel(const Node& n) {
  if (n.domain.empty() || n.domain == "ai.onnx") return find_kernel(n.op_type);
  return find_kernel(n.domain + "." + n.op_type);
}

std::string unsupported_variant(const Node& n, const Graph& g) {
  if (n.op_type == "Cast" || n.op_type == "CastLike") {
    const int64_t to = n.get_int("to", 0);
    if (to == static_cast<int64_t>(DType::String)) return "to=string";
    if (to == static_cast<int64_t>(DType::BFloat16)) return "to=bfloat16";
  }
  if (n.op_type == "Resize" && !n.get_string("mode", "nearest").empty()) {
    const std::string mode = n.get_string("mode", "nearest");
    if (mode != "nearest" && mode != "linear" && mode != "cubic") return "mode=" + mode;
    if (n.has("axes")) return "axes";
  }
  if (n.op_type == "Dropout" && n.has_input(2)) {
    // Inference only: a training_mode input that is not a constant false would need random masks.
    auto it = g.initializers.find(n.inputs[2]);
    if (it == g.initializers.end() || it->second.get_as_int64(0) != 0) return "training_mode";
  }
  for (const auto* list : {&g.inputs, &g.outputs})
    for (const auto& v : *list)
      if (v.dtype == DType::BFloat16 &&
          (std::find(n.inputs.begin(), n.inputs.end(), v.name) != n.inputs.end() ||
           std::find(n.outputs.begin(), n.outputs.end(), v.name) != n.outputs.end()))
        return "bfloat16";
  return "";
}

bool fusable_activation_producer(const Node& node) {
  return node.domain.empty() && node.op_type == "Conv";
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> ops;
  for (const auto& [name, fn] : registry()) ops.push_back(name);
  std::sort(ops.begin(), ops.end());
  return ops;
}

}  // namespace dyad
