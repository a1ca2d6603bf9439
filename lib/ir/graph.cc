#include "lib/ir/graph.h"

#include <algorithm>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace dyad {

int64_t Node::get_int(const std::string& attr, int64_t fallback) const {
  auto it = attrs.find(attr);
  return it == attrs.end() ? fallback : it->second.i;
}

float Node::get_float(const std::string& attr, float fallback) const {
  auto it = attrs.find(attr);
  return it == attrs.end() ? fallback : it->second.f;
}

std::string Node::get_string(const std::string& attr, const std::string& fallback) const {
  auto it = attrs.find(attr);
  return it == attrs.end() ? fallback : it->second.s;
}

std::vector<int64_t> Node::get_ints(const std::string& attr, std::vector<int64_t> fallback) const {
  auto it = attrs.find(attr);
  return it == attrs.end() ? fallback : it->second.ints;
}

std::vector<float> Node::get_floats(const std::string& attr, std::vector<float> fallback) const {
  auto it = attrs.find(attr);
  return it == attrs.end() ? fallback : it->second.floats;
}

size_t Node::input_count() const {
  size_t n = inputs.size();
  while (n > 0 && inputs[n - 1].empty()) --n;
  return n;
}

std::string Node::label() const {
  return name.empty() ? op_type + " (producing '" + (outputs.empty() ? "" : outputs[0]) + "')"
                      : op_type + " '" + name + "'";
}

std::optional<Shape> ValueInfo::static_shape() const {
  if (!has_shape) return std::nullopt;
  Shape s;
  for (const Dim& d : dims) {
    if (!d.known()) return std::nullopt;
    s.push_back(d.value);
  }
  return s;
}

std::string ValueInfo::shape_string() const {
  if (!has_shape) return "?";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += dims[i].known() ? std::to_string(dims[i].value) : (dims[i].param.empty() ? "?" : dims[i].param);
  }
  return s + "]";
}

std::vector<size_t> Graph::topological_order() const {
  // Kahn's algorithm with a min-heap on the original index keeps the file's order among ready
  // nodes, so the order is the same on every run.
  std::unordered_map<std::string, size_t> producer_of;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i].outputs)
      if (!out.empty()) producer_of[out] = i;
  std::vector<std::vector<size_t>> users(nodes.size());
  std::vector<size_t> pending(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<size_t> deps;
    auto add_deps = [&](const std::vector<std::string>& names) {
      for (const auto& in : names) {
        auto it = producer_of.find(in);
        if (!in.empty() && it != producer_of.end() && it->second != i) deps.insert(it->second);
      }
    };
    add_deps(nodes[i].inputs);
    for (const auto& [key, attr] : nodes[i].attrs) {  // subgraphs read outer values too
      if (attr.g) add_deps(attr.g->captured_names());
      for (const auto& g : attr.graphs) add_deps(g->captured_names());
    }
    for (size_t d : deps) users[d].push_back(i);
    pending[i] = deps.size();
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<size_t> order;
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.push(u);
  }
  if (order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i] != 0) fail("graph '{}' has a cycle through node {}", name, nodes[i].label());
  }
  return order;
}

void Graph::sort_topologically() {
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (size_t i : topological_order()) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
}

int Graph::producer(const std::string& value) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& out : nodes[i].outputs)
      if (out == value) return static_cast<int>(i);
  return -1;
}

std::vector<size_t> Graph::consumers(const std::string& value) const {
  std::vector<size_t> result;
  for (size_t i = 0; i < nodes.size(); ++i) {
    bool reads = std::find(nodes[i].inputs.begin(), nodes[i].inputs.end(), value) != nodes[i].inputs.end();
    for (const auto& [key, attr] : nodes[i].attrs) {
      if (reads) break;
      if (attr.g) {
        auto cap = attr.g->captured_names();
        reads = std::find(cap.begin(), cap.end(), value) != cap.end();
      }
    }
    if (reads) result.push_back(i);
  }
  return result;
}

bool Graph::is_graph_output(const std::string& value) const {
  return std::any_of(outputs.begin(), outputs.end(), [&](const ValueInfo& v) { return v.name == value; });
}

const ValueInfo* Graph::find_value_info(const std::string& value) const {
  for (const auto* list : {&inputs, &outputs, &value_info})
    for (const auto& vi : *list)
      if (vi.name == value) return &vi;
  return nullptr;
}

std::string Graph::unique_name(const std::string& base) const {
  std::unordered_set<std::string> used;
  for (const auto& n : nodes) {
    used.insert(n.name);
    for (const auto& o : n.outputs) used.insert(o);
  }
  for (const auto& v : inputs) used.insert(v.name);
  for (const auto& [k, t] : initializers) used.insert(k);
  if (!used.count(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!used.count(candidate)) return candidate;
  }
}

std::vector<std::string> Graph::captured_names() const {
  std::unordered_set<std::string> defined;
  for (const auto& v : inputs) defined.insert(v.name);
  for (const auto& [k, t] : initializers) defined.insert(k);
  for (const auto& n : nodes)
    for (const auto& o : n.outputs) defined.insert(o);
  std::vector<std::string> captured;
  std::unordered_set<std::string> seen;
  auto note = [&](const std::string& name) {
    if (!name.empty() && !defined.count(name) && seen.insert(name).second) captured.push_back(name);
  };
  for (const auto& n : nodes) {
    for (const auto& in : n.inputs) note(in);
    for (const auto& [key, attr] : n.attrs) {
      if (attr.g)
        for (const auto& c : attr.g->captured_names()) note(c);
      for (const auto& g : attr.graphs)
        for (const auto& c : g->captured_names()) note(c);
    }
  }
  for (const auto& o : outputs) note(o.name);
  return captured;
}

int64_t Model::opset(const std::string& d) const {
  const std::string want = (d == "ai.onnx") ? "" : d;
  for (const auto& op : opset_imports)
    if ((op.domain == "ai.onnx" ? "" : op.domain) == want) return op.version;
  return 0;
}

}  // namespace dyad
