#include <algorithm>
#include <set>

#include "lib/exec/kernel.h"
#include "lib/passes/passes.h"
#include "lib/passes/rewrite_util.h"

namespace dyad {

namespace {

// Ops whose result is not a function of their inputs, or that need the executor around them.
bool foldable_op(const Node& n) {
  static const std::set<std::string> never = {"RandomNormal", "RandomUniform", "RandomNormalLike",
                                              "RandomUniformLike", "Multinomial", "Bernoulli", "If", "Loop", "Scan"};
  return n.domain.empty() && !never.count(n.op_type) && find_kernel(n.op_type) != nullptr;
}

bool fold_in_graph(Graph& g, int64_t opset, size_t max_bytes) {
  bool changed = false;
  for (auto& n : g.nodes)
    for (auto& [key, attr] : n.attrs) {
      if (attr.g) changed |= fold_in_graph(*attr.g, opset, max_bytes);
      for (auto& sg : attr.graphs) changed |= fold_in_graph(*sg, opset, max_bytes);
    }
  g.sort_topologically();
  std::vector<Node> kept;
  for (auto& n : g.nodes) {
    bool all_const = foldable_op(n) && !unsupported_variant(n, g).size();
    std::vector<const Tensor*> inputs;
    for (const auto& in : n.inputs) {
      if (in.empty()) {
        inputs.push_back(nullptr);
        continue;
      }
      auto it = g.initializers.find(in);
      all_const = all_const && it != g.initializers.end();
      inputs.push_back(it == g.initializers.end() ? nullptr : &it->second);
    }
    // Shape of a fully known shape is a constant even though its input is not.
    Tensor shape_value;
    if (!all_const && n.op_type == "Shape" && n.domain.empty() && n.has_input(0) && n.outputs.size() == 1) {
      const ValueInfo* vi = g.find_value_info(n.inputs[0]);
      if (vi && vi->static_shape()) {
        Shape s = *vi->static_shape();
        const int64_t rank = static_cast<int64_t>(s.size());
        int64_t start = n.get_int("start", 0), end = n.get_int("end", rank);
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = std::clamp<int64_t>(start, 0, rank);
        end = std::clamp<int64_t>(end, start, rank);
        shape_value = Tensor::from_vector<int64_t>(std::vector<int64_t>(s.begin() + start, s.begin() + end), {end - start});
      }
    }
    if (!all_const && !shape_value.defined()) {
      kept.push_back(std::move(n));
      continue;
    }
    std::vector<Tensor> outputs;
    if (shape_value.defined()) {
      outputs.push_back(shape_value);
    } else {
      KernelContext ctx{n, opset, inputs, std::vector<Tensor>(n.outputs.size()), nullptr, nullptr};
      try {
        find_kernel(n.op_type)(ctx);
      } catch (const Error&) {
        kept.push_back(std::move(n));  // leave it for run time, where the error will name it
        continue;
      }
      outputs = std::move(ctx.outputs);
    }
    size_t bytes = 0;
    for (const auto& t : outputs) bytes += t.defined() ? t.nbytes() : 0;
    bool all_defined = true;
    for (size_t i = 0; i < n.outputs.size(); ++i) all_defined = all_defined && (n.outputs[i].empty() || outputs[i].defined());
    if (bytes > max_bytes || !all_defined) {
      kept.push_back(std::move(n));
      continue;
    }
    for (size_t i = 0; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty()) g.initializers[n.outputs[i]] = outputs[i].clone();
    changed = true;
  }
  g.nodes = std::move(kept);
  // Drop initializers nothing reads any more (inputs of folded nodes).
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (use_count(g, it->first) == 0) it = g.initializers.erase(it);
    else ++it;
  }
  return changed;
}

}  // namespace

bool fold_constants(Model& model, size_t max_bytes) {
  return fold_in_graph(model.graph, model.opset(""), max_bytes);
}

}  // namespace dyad
