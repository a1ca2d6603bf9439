// Recognises LayerNormalization written out op by op (what exporters emit below opset 17, e.g.
// paddle2onnx for PP-OCR's SVTR neck) and replaces it with the single op:
//
//   m = ReduceMean(x, last axis)   d = Sub(x, m)   v = ReduceMean(Pow(d, 2) or Mul(d, d), last axis)
//   y = Div(d, Sqrt(Add(v, eps)))  [Mul by gamma]  [Add beta]
//
// One op lets the integer emitter use its exact integer form instead of six float ops.
#include <algorithm>
#include <set>

#include "lib/passes/passes.h"
#include "lib/passes/rewrite_util.h"

namespace dyad {

namespace {

struct Matcher {
  Graph& g;

  // The only node reading `value`, if there is exactly one read and it is not a graph output.
  Node* sole_reader(const std::string& value, const char* op_type) {
    if (use_count(g, value) != 1) return nullptr;
    for (auto& n : g.nodes)
      for (const auto& in : n.inputs)
        if (in == value) return n.op_type == op_type && n.domain.empty() ? &n : nullptr;
    return nullptr;
  }

  const Tensor* float_constant(const std::string& name) const {
    auto it = g.initializers.find(name);
    return it == g.initializers.end() || it->second.dtype() != DType::Float32 ? nullptr : &it->second;
  }

  // The other input of a binary node, if it is a float constant.
  const Tensor* other_constant(const Node& n, const std::string& value, std::string* name = nullptr) const {
    if (n.inputs.size() != 2) return nullptr;
    const std::string& other = n.inputs[0] == value ? n.inputs[1] : n.inputs[0];
    if (name) *name = other;
    return float_constant(other);
  }

  bool reduces_last_axis(const Node& n, const std::string& input) const {
    if (n.get_int("keepdims", 1) != 1 || n.has_input(1)) return false;
    const auto axes = n.get_ints("axes");
    if (axes.size() != 1) return false;
    if (axes[0] == -1) return true;
    const ValueInfo* vi = g.find_value_info(input);
    return vi && vi->has_shape && axes[0] == static_cast<int64_t>(vi->dims.size()) - 1;
  }

  // A per-feature vector: numel N and every dimension but the last equal to 1.
  static bool is_feature_vector(const Tensor& t, int64_t n) {
    if (t.numel() != n || t.rank() == 0) return t.numel() == n && n == 1;
    for (int64_t d = 0; d + 1 < t.rank(); ++d)
      if (t.dim(d) != 1) return false;
    return true;
  }

  bool try_fuse(size_t mean_index) {
    Node& mean = g.nodes[mean_index];
    if (mean.op_type != "ReduceMean" || !mean.domain.empty() || !reduces_last_axis(mean, mean.inputs[0])) return false;
    const std::string x = mean.inputs[0];
    Node* sub = sole_reader(mean.outputs[0], "Sub");
    if (!sub || sub->inputs[0] != x || sub->inputs[1] != mean.outputs[0]) return false;
    const std::string d = sub->outputs[0];
    if (use_count(g, d) != 2) return false;
    Node *square = nullptr, *div = nullptr;
    for (auto& n : g.nodes) {
      if (!n.domain.empty()) continue;
      const bool reads = std::find(n.inputs.begin(), n.inputs.end(), d) != n.inputs.end();
      if (!reads) continue;
      if (n.op_type == "Pow" && n.inputs[0] == d) {
        const Tensor* e = float_constant(n.inputs[1]);
        if (e && e->numel() == 1 && e->get_as_double(0) == 2.0) square = &n;
      } else if (n.op_type == "Mul" && n.inputs.size() == 2 && n.inputs[0] == d && n.inputs[1] == d) {
        square = &n;
      } else if (n.op_type == "Div" && n.inputs[0] == d) {
        div = &n;
      }
    }
    if (!square || !div) return false;
    Node* var = sole_reader(square->outputs[0], "ReduceMean");
    if (!var || !reduces_last_axis(*var, d)) return false;
    Node* add_eps = sole_reader(var->outputs[0], "Add");
    const Tensor* eps = add_eps ? other_constant(*add_eps, var->outputs[0]) : nullptr;
    if (!eps || eps->numel() != 1) return false;
    Node* sqrt = sole_reader(add_eps->outputs[0], "Sqrt");
    if (!sqrt || div->inputs[1] != sqrt->outputs[0] || use_count(g, sqrt->outputs[0]) != 1) return false;
    Node* scale = sole_reader(div->outputs[0], "Mul");
    std::string gamma_name, beta_name;
    const Tensor* gamma = scale ? other_constant(*scale, div->outputs[0], &gamma_name) : nullptr;
    if (!gamma) return false;  // the feature count comes from gamma
    const int64_t features = gamma->numel();
    if (!is_feature_vector(*gamma, features)) return false;
    Node* shift = sole_reader(scale->outputs[0], "Add");
    const Tensor* beta = shift ? other_constant(*shift, scale->outputs[0], &beta_name) : nullptr;
    if (beta && !is_feature_vector(*beta, features)) beta = nullptr;

    Node ln;
    ln.op_type = "LayerNormalization";
    ln.name = mean.name.empty() ? "" : mean.name + "_layer_norm";
    const std::string gamma_flat = g.unique_name(gamma_name + "_vector");
    g.initializers[gamma_flat] = gamma->reshaped({features});
    ln.inputs = {x, gamma_flat};
    if (beta) {
      const std::string beta_flat = g.unique_name(beta_name + "_vector");
      g.initializers[beta_flat] = beta->reshaped({features});
      ln.inputs.push_back(beta_flat);
    }
    ln.outputs = {beta ? shift->outputs[0] : scale->outputs[0]};
    Attribute axis, epsilon;
    axis.kind = Attribute::Kind::Int;
    axis.i = -1;
    epsilon.kind = Attribute::Kind::Float;
    epsilon.f = static_cast<float>(eps->get_as_double(0));
    ln.attrs = {{"axis", axis}, {"epsilon", epsilon}};

    std::set<const Node*> dead = {&mean, sub, square, var, add_eps, sqrt, div, scale};
    if (beta) dead.insert(shift);
    std::vector<Node> kept;
    bool placed = false;
    for (auto& n : g.nodes) {
      if (!dead.count(&n)) {
        kept.push_back(std::move(n));
      } else if (!placed) {  // where the ReduceMean was: x is ready there
        kept.push_back(ln);
        placed = true;
      }
    }
    g.nodes = std::move(kept);
    return true;
  }
};

}  // namespace

bool fuse_layer_norm(Model& model) {
  if (model.opset("") < 17) return false;  // LayerNormalization is an opset-17 op
  Graph& g = model.graph;
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (Matcher{g}.try_fuse(i)) changed = true;
  if (changed)
    for (auto it = g.initializers.begin(); it != g.initializers.end();) {
      if (use_count(g, it->first) == 0) it = g.initializers.erase(it);
      else ++it;
    }
  return changed;
}

}  // namespace dyad
