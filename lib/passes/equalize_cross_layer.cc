// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
// Equalization and Bias Correction", §4.1). Two layers with constant weights, A then B, joined by
// ops that commute with a positive per-channel scale (nothing, Relu, MaxPool): scaling A's output
// channel i by 1/s_i and B's input channel i by s_i leaves the model's function unchanged, and
// s_i = sqrt(r1_i / r2_i), with r1_i and r2_i the largest |weight| of A's output channel i and of
// B's input channel i, makes both ranges sqrt(r1_i * r2_i). Per-channel weight quantization of A
// is unaffected; B's per-output-channel scales then serve input channels of similar range, and
// A's output (B's input) channels come closer to one activation range: what a depthwise A, whose
// channels differ by orders of magnitude, needs most.
#include <algorithm>
#include <cmath>
#include <optional>

#include "lib/passes/passes.h"
#include "lib/passes/rewrite_util.h"

namespace dyad {

namespace {

// A layer's constant weight and which axis of it is the output (or, for B, input) channel.
struct LayerWeights {
  std::string weight, bias;  // initializer names; bias empty if none
  int out_axis = 0, in_axis = 1;
};

const Tensor* float_initializer(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() || it->second.dtype() != DType::Float32 ? nullptr : &it->second;
}

// Conv (plain, or depthwise with one filter per channel as A), Gemm (transA = 0, alpha = beta =
// 1) or MatMul with a 2-D constant weight.
std::optional<LayerWeights> layer_weights(const Graph& g, const Node& n, bool as_first) {
  if (!n.domain.empty() || n.inputs.size() < 2) return std::nullopt;
  const Tensor* w = float_initializer(g, n.inputs[1]);
  if (!w) return std::nullopt;
  LayerWeights l;
  l.weight = n.inputs[1];
  if (n.op_type == "Conv") {
    const int64_t group = n.get_int("group", 1);
    if (w->rank() < 3 || (group != 1 && !(as_first && w->dim(1) == 1 && group == w->dim(0)))) return std::nullopt;
    l.out_axis = 0;
    l.in_axis = 1;
    if (n.has_input(2)) l.bias = n.inputs[2];
  } else if (n.op_type == "Gemm" || n.op_type == "MatMul") {
    if (w->rank() != 2) return std::nullopt;
    const bool gemm = n.op_type == "Gemm";
    if (gemm && (n.get_int("transA", 0) != 0 || n.get_float("alpha", 1.0f) != 1.0f || n.get_float("beta", 1.0f) != 1.0f))
      return std::nullopt;
    const bool trans_b = gemm && n.get_int("transB", 0) != 0;
    l.out_axis = trans_b ? 0 : 1;
    l.in_axis = trans_b ? 1 : 0;
    if (gemm && n.has_input(2)) l.bias = n.inputs[2];
  } else {
    return std::nullopt;
  }
  if (!l.bias.empty()) {
    const Tensor* b = float_initializer(g, l.bias);
    if (!b || b->numel() != w->dim(l.out_axis) || b->rank() != 1) return std::nullopt;
  }
  return l;
}

// Largest |w| over each index of `axis`.
std::vector<double> channel_ranges(const Tensor& w, int axis) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= w.dim(d);
  for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  std::vector<double> r(static_cast<size_t>(w.dim(axis)), 0.0);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < w.dim(axis); ++c)
      for (int64_t i = 0; i < inner; ++i)
        r[static_cast<size_t>(c)] = std::max(r[static_cast<size_t>(c)], std::abs(static_cast<double>(w.data<float>()[(o * w.dim(axis) + c) * inner + i])));
  return r;
}

// w with each index c of `axis` multiplied by factor[c], under a fresh name.
std::string scaled(Graph& g, const std::string& name, int axis, const std::vector<double>& factor) {
  Tensor w = g.initializers.at(name).clone();
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= w.dim(d);
  for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < w.dim(axis); ++c)
      for (int64_t i = 0; i < inner; ++i) {
        float& v = w.data<float>()[(o * w.dim(axis) + c) * inner + i];
        v = static_cast<float>(v * factor[static_cast<size_t>(c)]);
      }
  const std::string fresh = g.unique_name(name + "_equalized");
  g.initializers[fresh] = std::move(w);
  return fresh;
}

// The layer B that reads A's output through ops commuting with positive channel scales, or -1.
int next_layer(const Graph& g, const std::string& value) {
  std::string v = value;
  for (int hops = 0; hops < 3; ++hops) {
    if (use_count(g, v) != 1) return -1;
    const auto readers = g.consumers(v);
    if (readers.size() != 1) return -1;
    const Node& n = g.nodes[readers[0]];
    if (n.inputs.empty() || n.inputs[0] != v || !n.domain.empty()) return -1;
    if (n.op_type == "Relu" || n.op_type == "MaxPool") {
      if (n.outputs.size() != 1) return -1;  // MaxPool's indices output
      v = n.outputs[0];
      continue;
    }
    return static_cast<int>(readers[0]);
  }
  return -1;
}

}  // namespace

int equalize_cross_layer(Model& model, int* depthwise_pairs) {
  Graph& g = model.graph;
  int pairs = 0;
  if (depthwise_pairs) *depthwise_pairs = 0;
  // A few sweeps: a layer between two others is pulled both ways, and the scales settle.
  for (int sweep = 0; sweep < 4; ++sweep)
    for (size_t ai = 0; ai < g.nodes.size(); ++ai) {
      const auto a = layer_weights(g, g.nodes[ai], true);
      if (!a || g.nodes[ai].outputs.empty()) continue;
      const int bi = next_layer(g, g.nodes[ai].outputs[0]);
      if (bi < 0) continue;
      const auto b = layer_weights(g, g.nodes[static_cast<size_t>(bi)], false);
      if (!b || use_count(g, a->weight) != 1 || use_count(g, b->weight) != 1 || (!a->bias.empty() && use_count(g, a->bias) != 1))
        continue;
      const Tensor &w1 = g.initializers.at(a->weight), &w2 = g.initializers.at(b->weight);
      if (w1.dim(a->out_axis) != w2.dim(b->in_axis)) continue;
      const std::vector<double> r1 = channel_ranges(w1, a->out_axis), r2 = channel_ranges(w2, b->in_axis);
      std::vector<double> down(r1.size()), up(r1.size());
      bool changes = false;
      for (size_t c = 0; c < r1.size(); ++c) {
        const double s = r1[c] > 0 && r2[c] > 0 ? std::sqrt(r1[c] / r2[c]) : 1.0;
        down[c] = 1.0 / s;
        up[c] = s;
        changes = changes || std::abs(s - 1.0) > 1e-3;
      }
      if (!changes) continue;
      Node& first = g.nodes[ai];
      first.inputs[1] = scaled(g, a->weight, a->out_axis, down);
      if (!a->bias.empty()) first.inputs[2] = scaled(g, a->bias, 0, down);
      g.nodes[static_cast<size_t>(bi)].inputs[1] = scaled(g, b->weight, b->in_axis, up);
      for (const std::string& old : {a->weight, a->bias, b->weight})
        if (!old.empty() && !is_read_anywhere(g, old)) g.initializers.erase(old);
      if (sweep == 0) {
        ++pairs;
        if (depthwise_pairs && first.op_type == "Conv" && first.get_int("group", 1) > 1) ++*depthwise_pairs;
      }
    }
  return pairs;
}

}  // namespace dyad
