#include "lib/passes/rewrite_util.h"

#include <algorithm>

namespace dyad {

namespace {

bool defines(const Graph& g, const std::string& name) {
  if (g.initializers.count(name)) return true;
  for (const auto& in : g.inputs)
    if (in.name == name) return true;
  for (const auto& n : g.nodes)
    if (std::find(n.outputs.begin(), n.outputs.end(), name) != n.outputs.end()) return true;
  return false;
}

}  // namespace

int use_count(const Graph& g, const std::string& value) {
  int count = g.is_graph_output(value) ? 1 : 0;
  for (const auto& n : g.nodes) {
    count += static_cast<int>(std::count(n.inputs.begin(), n.inputs.end(), value));
    for (const auto& [key, attr] : n.attrs) {
      std::vector<const Graph*> subs;
      if (attr.g) subs.push_back(attr.g.get());
      for (const auto& sg : attr.graphs) subs.push_back(sg.get());
      for (const Graph* sg : subs) {
        const auto cap = sg->captured_names();
        count += static_cast<int>(std::count(cap.begin(), cap.end(), value));
      }
    }
  }
  return count;
}

bool is_read_anywhere(const Graph& g, const std::string& value) {
  return use_count(g, value) - (g.is_graph_output(value) ? 1 : 0) > 0;
}

void rename_reads(Graph& g, const std::string& from, const std::string& to) {
  for (auto& n : g.nodes) {
    for (auto& in : n.inputs)
      if (in == from) in = to;
    for (auto& [key, attr] : n.attrs) {
      if (attr.g && !defines(*attr.g, from)) rename_reads(*attr.g, from, to);
      for (auto& sg : attr.graphs)
        if (!defines(*sg, from)) rename_reads(*sg, from, to);
    }
  }
  for (auto& out : g.outputs)  // subgraph outputs may name an outer value directly
    if (out.name == from && !defines(g, from)) out.name = to;
}

}  // namespace dyad
