// Control flow: If runs one of two subgraphs, which read outer values through the scope.
#include "lib/exec/executor.h"
#include "lib/exec/ops/registry_fwd.h"

namespace dyad::ops {

namespace {

void op_if(KernelContext& c) {
  const Tensor& cond = c.in(0);
  if (cond.numel() != 1) c.fail("condition must have one element");
  const bool take_then = cond.get_as_int64(0) != 0;
  const auto it = c.node.attrs.find(take_then ? "then_branch" : "else_branch");
  if (it == c.node.attrs.end() || !it->second.g) c.fail("missing branch subgraph");
  const Executor& branch = c.executor->subgraph(it->second.g.get());
  std::vector<Tensor> outs = branch.run_subgraph(*c.scope);
  if (outs.size() != c.outputs.size()) c.fail("branch produced {} outputs, node has {}", outs.size(), c.outputs.size());
  for (size_t i = 0; i < outs.size(); ++i) c.outputs[i] = std::move(outs[i]);
}

}  // namespace

void register_control_ops(Registry& r) { r["If"] = op_if; }

}  // namespace dyad::ops
