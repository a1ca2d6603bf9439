#include "lib/ir/model_stats.h"

namespace dyad {

namespace {

// Shape of a value with symbolic dims set to 1; false if unknown.
bool concrete_shape(const Graph& g, const std::string& name, Shape& shape, bool& assumed) {
  if (auto it = g.initializers.find(name); it != g.initializers.end()) {
    shape = it->second.shape();
    return true;
  }
  const ValueInfo* vi = g.find_value_info(name);
  if (!vi || !vi->has_shape) return false;
  shape.clear();
  for (const Dim& d : vi->dims) {
    if (!d.known()) assumed = true;
    shape.push_back(d.known() ? d.value : 1);
  }
  return true;
}

int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < s.size(); ++i) p *= s[i];
  return p;
}

void count_graph(const Graph& g, ModelStats& stats) {
  for (const auto& [name, t] : g.initializers) {
    stats.parameter_count += t.numel();
    stats.parameter_bytes += static_cast<int64_t>(t.nbytes());
  }
  for (const auto& n : g.nodes) {
    stats.op_counts[n.domain.empty() ? n.op_type : n.domain + "." + n.op_type]++;
    // Exporters such as Paddle's store weights in Constant nodes instead of initializers.
    if (n.op_type == "Constant" && n.domain.empty() && n.has("value")) {
      stats.parameter_count += n.attrs.at("value").t.numel();
      stats.parameter_bytes += static_cast<int64_t>(n.attrs.at("value").t.nbytes());
    }
    for (const auto& [key, attr] : n.attrs) {
      if (attr.g) count_graph(*attr.g, stats);
      for (const auto& sg : attr.graphs) count_graph(*sg, stats);
    }
    if (n.outputs.empty() || n.inputs.size() < 2) continue;
    const bool conv = n.op_type == "Conv" || n.op_type == "ConvInteger" || n.op_type == "ConvTranspose";
    const bool gemm = n.op_type == "Gemm" || n.op_type == "MatMul" || n.op_type == "MatMulInteger";
    if (!conv && !gemm) continue;
    Shape out, w, a;
    bool assumed = false;
    LayerMacs layer{n.name.empty() ? n.outputs[0] : n.name, n.op_type, 0, {}};
    if (conv && concrete_shape(g, n.outputs[0], out, assumed) && concrete_shape(g, n.inputs[1], w, assumed) && w.size() >= 3) {
      if (n.op_type == "ConvTranspose") {
        Shape x;
        // Each input pixel scatters a kernel: MACs = N*C*in_spatial * (M/g)*kernel.
        if (concrete_shape(g, n.inputs[0], x, assumed)) layer.macs = product(x, 0, x.size()) * product(w, 1, w.size());
      } else {
        layer.macs = product(out, 0, out.size()) * product(w, 1, w.size());  // N*M*spatial * C/g*kernel
      }
      layer.output_shape = out;
    } else if (gemm && concrete_shape(g, n.outputs[0], out, assumed) && concrete_shape(g, n.inputs[0], a, assumed) && !a.empty()) {
      const int64_t k = (n.op_type == "Gemm" && n.get_int("transA", 0)) ? a[0] : a.back();
      layer.macs = product(out, 0, out.size()) * k;
      layer.output_shape = out;
    }
    stats.assumed_unit_dims |= assumed;
    stats.total_macs += layer.macs;
    stats.layers.push_back(layer);
  }
}

}  // namespace

ModelStats model_stats(const Model& model) {
  ModelStats stats;
  count_graph(model.graph, stats);
  return stats;
}

}  // namespace dyad
