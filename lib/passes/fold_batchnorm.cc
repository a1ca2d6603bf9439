#include <algorithm>
#include <cmath>

#include "lib/passes/passes.h"
#include "lib/passes/rewrite_util.h"

namespace dyad {

namespace {

const Tensor* constant(const Graph& g, const Node& n, size_t input) {
  if (!n.has_input(input)) return nullptr;
  auto it = g.initializers.find(n.inputs[input]);
  return it == g.initializers.end() || it->second.dtype() != DType::Float32 ? nullptr : &it->second;
}

// Per-channel multiplier a and offset b of an inference BatchNormalization: y = a*x + b.
bool batchnorm_affine(const Graph& g, const Node& bn, std::vector<float>& a, std::vector<float>& b) {
  const Tensor *scale = constant(g, bn, 1), *bias = constant(g, bn, 2), *mean = constant(g, bn, 3),
               *var = constant(g, bn, 4);
  if (!scale || !bias || !mean || !var || bn.get_int("training_mode", 0) != 0) return false;
  const int64_t c = scale->numel();
  if (bias->numel() != c || mean->numel() != c || var->numel() != c) return false;
  const float eps = bn.get_float("epsilon", 1e-5f);
  a.resize(static_cast<size_t>(c));
  b.resize(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) {
    a[static_cast<size_t>(i)] = scale->data<float>()[i] / std::sqrt(var->data<float>()[i] + eps);
    b[static_cast<size_t>(i)] = bias->data<float>()[i] - mean->data<float>()[i] * a[static_cast<size_t>(i)];
  }
  return true;
}

// Writes a new initializer (a fresh name, so shared weights are never edited in place).
std::string add_initializer(Graph& g, const std::string& base, Tensor t) {
  const std::string name = g.unique_name(base);
  g.initializers[name] = std::move(t);
  return name;
}

// Folds into Conv: W[m, ...] *= a[m]; B[m] = B[m] * a[m] + b[m].
bool fold_into_conv(Graph& g, Node& conv, const std::vector<float>& a, const std::vector<float>& b) {
  const Tensor* w = constant(g, conv, 1);
  if (!w || w->rank() < 3 || w->dim(0) != static_cast<int64_t>(a.size())) return false;
  const Tensor* bias = conv.has_input(2) ? constant(g, conv, 2) : nullptr;
  if (conv.has_input(2) && !bias) return false;
  Tensor nw = w->clone();
  const int64_t per = nw.numel() / nw.dim(0);
  for (int64_t m = 0; m < nw.dim(0); ++m)
    for (int64_t i = 0; i < per; ++i) nw.data<float>()[m * per + i] *= a[static_cast<size_t>(m)];
  Tensor nb(DType::Float32, {nw.dim(0)});
  for (int64_t m = 0; m < nw.dim(0); ++m)
    nb.data<float>()[m] = (bias ? bias->data<float>()[m] : 0.0f) * a[static_cast<size_t>(m)] + b[static_cast<size_t>(m)];
  conv.inputs[1] = add_initializer(g, conv.inputs[1] + "_bnfolded", std::move(nw));
  conv.inputs.resize(3);
  conv.inputs[2] = add_initializer(g, (conv.name.empty() ? conv.outputs[0] : conv.name) + "_bias_bnfolded", std::move(nb));
  return true;
}

// Folds into Gemm (output [M, N], channel = N): scale op(B)'s columns, C' = C * a + b / beta.
bool fold_into_gemm(Graph& g, Node& gemm, const std::vector<float>& a, const std::vector<float>& b) {
  const Tensor* w = constant(g, gemm, 1);
  if (!w || w->rank() != 2) return false;
  const bool tb = gemm.get_int("transB", 0) != 0;
  const int64_t n = tb ? w->dim(0) : w->dim(1), k = tb ? w->dim(1) : w->dim(0);
  if (n != static_cast<int64_t>(a.size())) return false;
  const float beta = gemm.get_float("beta", 1.0f);
  const Tensor* c = gemm.has_input(2) ? constant(g, gemm, 2) : nullptr;
  if (gemm.has_input(2) && (!c || beta == 0.0f || (c->numel() != 1 && c->numel() != n) || (c->rank() == 2 && c->dim(0) != 1)))
    return false;
  Tensor nw = w->clone();
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; ++i) nw.data<float>()[tb ? j * k + i : i * n + j] *= a[static_cast<size_t>(j)];
  Tensor nc(DType::Float32, {n});
  for (int64_t j = 0; j < n; ++j) {
    const float cv = c ? c->data<float>()[c->numel() == 1 ? 0 : j] : 0.0f;
    nc.data<float>()[j] = cv * a[static_cast<size_t>(j)] + b[static_cast<size_t>(j)] / (c ? beta : 1.0f);
  }
  if (!c) gemm.attrs.erase("beta");
  gemm.inputs[1] = add_initializer(g, gemm.inputs[1] + "_bnfolded", std::move(nw));
  gemm.inputs.resize(3);
  gemm.inputs[2] = add_initializer(g, (gemm.name.empty() ? gemm.outputs[0] : gemm.name) + "_bias_bnfolded", std::move(nc));
  return true;
}

bool fold_in_graph(Graph& g) {
  bool changed = false;
  for (auto& n : g.nodes)
    for (auto& [key, attr] : n.attrs) {
      if (attr.g) changed |= fold_in_graph(*attr.g);
      for (auto& sg : attr.graphs) changed |= fold_in_graph(*sg);
    }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& bn = g.nodes[i];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || !bn.has_input(0)) continue;
    if (bn.outputs.size() > 1 && std::any_of(bn.outputs.begin() + 1, bn.outputs.end(), [](const std::string& o) { return !o.empty(); }))
      continue;
    const int p = g.producer(bn.inputs[0]);
    if (p < 0 || use_count(g, bn.inputs[0]) != 1) continue;
    std::vector<float> a, b;
    if (!batchnorm_affine(g, bn, a, b)) continue;
    Node& prod = g.nodes[static_cast<size_t>(p)];
    bool folded = false;
    if (prod.op_type == "Conv" && prod.domain.empty()) folded = fold_into_conv(g, prod, a, b);
    else if (prod.op_type == "Gemm" && prod.domain.empty()) folded = fold_into_gemm(g, prod, a, b);
    else if (prod.op_type == "MatMul" && prod.domain.empty()) {
      // MatMul with a 2-D output is a Gemm without bias; BatchNorm's channel axis is then N.
      const ValueInfo* vi = g.find_value_info(prod.outputs[0]);
      if (vi && vi->has_shape && vi->dims.size() == 2) {
        prod.op_type = "Gemm";
        folded = fold_into_gemm(g, prod, a, b);
        if (!folded) prod.op_type = "MatMul";
      }
    }
    if (!folded) continue;
    prod.outputs[0] = bn.outputs[0];
    g.nodes.erase(g.nodes.begin() + static_cast<long>(i));
    --i;
    changed = true;
  }
  if (changed)
    for (auto it = g.initializers.begin(); it != g.initializers.end();) {
      if (use_count(g, it->first) == 0) it = g.initializers.erase(it);
      else ++it;
    }
  return changed;
}

}  // namespace

bool fold_batchnorm(Model& model) { return fold_in_graph(model.graph); }

}  // namespace dyad
