#include <algorithm>
#include <functional>

#include "lib/passes/passes.h"
#include "lib/passes/rewrite_util.h"

namespace dyad {

namespace {

bool removable(const Node& n, const Graph& g) {
  if (!n.domain.empty()) return false;
  if (n.op_type == "Identity") return n.outputs.size() == 1;
  if (n.op_type != "Dropout") return false;
  if (n.has_input(2)) {  // training_mode must be a constant false
    auto it = g.initializers.find(n.inputs[2]);
    if (it == g.initializers.end() || it->second.get_as_int64(0) != 0) return false;
  }
  // The mask output must be unused.
  return n.outputs.size() < 2 || n.outputs[1].empty() || (!is_read_anywhere(g, n.outputs[1]) && !g.is_graph_output(n.outputs[1]));
}

bool remove_in_graph(Graph& g) {
  bool changed = false;
  for (auto& n : g.nodes)
    for (auto& [key, attr] : n.attrs) {
      if (attr.g) changed |= remove_in_graph(*attr.g);
      for (auto& sg : attr.graphs) changed |= remove_in_graph(*sg);
    }
  for (size_t i = 0; i < g.nodes.size();) {
    const Node n = g.nodes[i];
    if (!removable(n, g) || n.inputs.empty() || n.inputs[0].empty()) {
      ++i;
      continue;
    }
    const std::string& in = n.inputs[0];
    const std::string& out = n.outputs[0];
    if (!g.is_graph_output(out)) {
      g.nodes.erase(g.nodes.begin() + static_cast<long>(i));
      rename_reads(g, out, in);
      changed = true;
      continue;
    }
    // The output is a graph output: rename the input's producer instead, if that is safe.
    const int producer = g.producer(in);
    if (producer >= 0 && !g.is_graph_output(in)) {
      g.nodes.erase(g.nodes.begin() + static_cast<long>(i));
      for (auto& o : g.nodes[static_cast<size_t>(producer < static_cast<int>(i) ? producer : producer - 1)].outputs)
        if (o == in) o = out;
      rename_reads(g, in, out);
      changed = true;
      continue;
    }
    ++i;
  }
  return changed;
}

}  // namespace

bool remove_identity(Model& model) { return remove_in_graph(model.graph); }

}  // namespace dyad
