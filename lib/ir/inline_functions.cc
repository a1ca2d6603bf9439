#include "lib/ir/inline_functions.h"

#include <functional>
#include <unordered_map>

namespace dyad {

namespace {

const Function* find_function(const Model& m, const Node& n) {
  for (const auto& f : m.functions)
    if (f.name == n.op_type && f.domain == n.domain) return &f;
  return nullptr;
}

void inline_in_graph(const Model& model, Graph& g, int& counter, int depth, const std::function<bool(const Function&)>& keep) {
  if (depth > 32) fail("model-local functions nest more than 32 deep (recursive function?)");
  std::vector<Node> result;
  bool expanded = false;
  for (auto& node : g.nodes) {
    for (auto& [key, attr] : node.attrs) {
      if (attr.g) inline_in_graph(model, *attr.g, counter, depth, keep);
      for (auto& sg : attr.graphs) inline_in_graph(model, *sg, counter, depth, keep);
    }
    const Function* fn = find_function(model, node);
    if (!fn || (keep && keep(*fn))) {
      result.push_back(std::move(node));
      continue;
    }
    expanded = true;
    const std::string prefix = "__" + fn->name + "_" + std::to_string(counter++) + "/";
    std::unordered_map<std::string, std::string> rename;
    for (size_t i = 0; i < fn->inputs.size(); ++i) rename[fn->inputs[i]] = i < node.inputs.size() ? node.inputs[i] : "";
    for (size_t i = 0; i < fn->outputs.size(); ++i)
      rename[fn->outputs[i]] = i < node.outputs.size() ? node.outputs[i] : prefix + fn->outputs[i];
    auto mapped = [&](const std::string& name) {
      if (name.empty()) return name;
      auto it = rename.find(name);
      return it != rename.end() ? it->second : prefix + name;
    };
    for (const Node& body : fn->nodes) {
      Node copy = body;
      copy.name = prefix + body.name;
      for (auto& in : copy.inputs) in = mapped(in);
      for (auto& out : copy.outputs) out = mapped(out);
      std::map<std::string, Attribute> attrs;
      for (auto& [key, attr] : copy.attrs) {
        if (attr.ref_attr_name.empty()) {
          attrs[key] = attr;
          continue;
        }
        auto it = node.attrs.find(attr.ref_attr_name);
        if (it != node.attrs.end()) {
          Attribute resolved = it->second;
          resolved.ref_attr_name.clear();
          attrs[key] = resolved;
        }  // an unset reference means the attribute is absent in the body
      }
      copy.attrs = std::move(attrs);
      result.push_back(std::move(copy));
    }
  }
  g.nodes = std::move(result);
  if (expanded) inline_in_graph(model, g, counter, depth + 1, keep);  // bodies may call functions
}

}  // namespace

Graph inline_functions(const Model& model, const std::function<bool(const Function&)>& keep) {
  Graph g = model.graph;
  if (model.functions.empty()) return g;
  // Subgraph attributes are shared_ptrs: deep-copy them before editing so the model is untouched.
  std::function<void(Graph&)> deep_copy = [&](Graph& graph) {
    for (auto& n : graph.nodes)
      for (auto& [key, attr] : n.attrs) {
        if (attr.g) {
          attr.g = std::make_shared<Graph>(*attr.g);
          deep_copy(*attr.g);
        }
        for (auto& sg : attr.graphs) {
          sg = std::make_shared<Graph>(*sg);
          deep_copy(*sg);
        }
      }
  };
  deep_copy(g);
  int counter = 0;
  inline_in_graph(model, g, counter, 0, keep);
  return g;
}

}  // namespace dyad
