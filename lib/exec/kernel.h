// The interface between the executor and one operator's implementation.
//
// A kernel reads ctx.in(i), computes, and stores each result in ctx.outputs[i]. Kernels are
// plain functions registered by op type in the default ONNX domain; registration happens in
// one place (registry.cc) so that the list of supported ops is explicit and greppable.
#pragma once
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lib/ir/graph.h"

namespace dyad {

class Executor;

struct KernelContext {
  const Node& node;
  int64_t opset = 0;  // version of the default domain imported by the model
  std::vector<const Tensor*> inputs;  // nullptr for an omitted optional input
  std::vector<Tensor> outputs;        // one per node output, filled by the kernel
  const Executor* executor = nullptr;
  // Resolves names of the enclosing scope for a subgraph run (If branches).
  const std::function<const Tensor*(const std::string&)>* scope = nullptr;
  // A Relu/Clip the executor fused into this node: clamp every output to [clamp_lo, clamp_hi].
  // Only kernels that declare support (fusable_activation_producer) see values other than ±inf.
  float clamp_lo = -std::numeric_limits<float>::infinity();
  float clamp_hi = std::numeric_limits<float>::infinity();
  // Per-node storage that lives as long as the executor (pre-packed weights and the like):
  // kNodeCacheSlots entries, one per kind of derived data (lib/exec/ops/node_cache.h).
  static constexpr size_t kNodeCacheSlots = 4;
  std::shared_ptr<void>* node_cache = nullptr;
  uint32_t constant_inputs = 0;  // bit i set: input i is an initializer (same buffer every run)
  bool input_is_constant(size_t i) const { return i < 32 && ((constant_inputs >> i) & 1u); }

  size_t num_inputs() const { return inputs.size(); }
  bool has(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const Tensor& in(size_t i) const;
  // Throws Error "<Op 'name'>: <message>".
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw Error(node.label() + ": " + fmt::format(format, std::forward<Args>(args)...));
  }
};

using KernelFn = void (*)(KernelContext&);

// Kernel for `op_type` in the default domain, or nullptr.
KernelFn find_kernel(const std::string& op_type);
// The kernel for a node: default-domain ops by op type, ai.dyad functions the executor kept as
// calls by "ai.dyad.<name>"; nullptr if there is none.
KernelFn find_node_kernel(const Node& n);
// For a node whose op has a kernel: a short description of a feature the kernel does not
// implement ("mode=cubic", "to=string"), or "" if it can run. Lets the executor reject such nodes
// when it is built, naming them, instead of failing half way through a run.
std::string unsupported_variant(const Node& node, const Graph& graph);
// True for ops whose kernel applies ctx.clamp_lo/hi (so a following Relu/Clip can be fused).
bool fusable_activation_producer(const Node& node);
// Every registered op type, sorted.
std::vector<std::string> supported_ops();

}  // namespace dyad
