// The graph IR: Model > Graph > Node, with initializers and typed value infos.
//
// It mirrors ONNX closely (so load/save is lossless for everything Dyad touches) but is plain
// C++ values: passes edit vectors and maps instead of protobuf messages. Names are the edges,
// as in ONNX: a value is produced by at most one node output, a graph input or an initializer.
// Subgraphs (If branches, Loop bodies) are held by Attribute::graph and may read names of the
// enclosing graphs. Maps are ordered so that iteration, and hence emitted files, is
// deterministic.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/ir/tensor.h"

namespace dyad {

struct Graph;

struct Attribute {
  enum class Kind { Float, Int, String, Tensor, Graph, Floats, Ints, Strings, Graphs, Unsupported };
  Kind kind = Kind::Unsupported;
  float f = 0;
  int64_t i = 0;
  std::string s;
  dyad::Tensor t;
  std::shared_ptr<dyad::Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<std::shared_ptr<dyad::Graph>> graphs;
  std::string ref_attr_name;  // set inside function bodies when the value comes from the caller
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;               // "" is the default ONNX domain
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;

  bool has(const std::string& attr) const { return attrs.count(attr) != 0; }
  int64_t get_int(const std::string& attr, int64_t fallback) const;
  float get_float(const std::string& attr, float fallback) const;
  std::string get_string(const std::string& attr, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& attr, std::vector<int64_t> fallback = {}) const;
  std::vector<float> get_floats(const std::string& attr, std::vector<float> fallback = {}) const;
  // Number of present (non-empty) inputs counted from the front, i.e. index of last present + 1.
  size_t input_count() const;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
  // "Conv 'conv1'" style label for messages.
  std::string label() const;
};

// A dimension is either known (value >= 0) or symbolic (param, value -1) or unknown.
struct Dim {
  int64_t value = -1;
  std::string param;
  bool known() const { return value >= 0; }
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::Undefined;
  bool has_shape = false;
  std::vector<Dim> dims;
  // Concrete shape if every dimension is known.
  std::optional<Shape> static_shape() const;
  std::string shape_string() const;  // e.g. [batch,1,28,28]
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs;       // excludes names that have an initializer
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;   // shapes of intermediate values, filled by shape inference
  std::map<std::string, Tensor> initializers;
  std::string doc_string;

  // Node indices such that every node comes after the producers of its inputs. Throws Error
  // naming a node on a cycle. Ties keep the file's order, so the result is deterministic.
  std::vector<size_t> topological_order() const;
  void sort_topologically();
  // Index of the node producing `value`, or -1.
  int producer(const std::string& value) const;
  // Indices of nodes reading `value` (each node once), in node order.
  std::vector<size_t> consumers(const std::string& value) const;
  bool is_graph_output(const std::string& value) const;
  const ValueInfo* find_value_info(const std::string& value) const;  // inputs, outputs, value_info
  // A name not yet used by any value or node in this graph, built from `base`.
  std::string unique_name(const std::string& base) const;
  // Names read by nodes of this graph (recursively into subgraphs) but defined nowhere inside:
  // the outer-scope values a subgraph captures.
  std::vector<std::string> captured_names() const;
};

struct OpsetImport {
  std::string domain;
  int64_t version = 0;
};

// A model-local function (ModelProto.functions): a named body of standard ops.
struct Function {
  std::string name, domain, doc_string;
  std::vector<std::string> inputs, outputs, attributes;
  std::vector<Node> nodes;
  std::vector<OpsetImport> opset_imports;
};

struct Model {
  int64_t ir_version = 8;
  std::vector<OpsetImport> opset_imports;
  std::string producer_name, producer_version, domain, doc_string;
  int64_t model_version = 0;
  std::map<std::string, std::string> metadata;
  Graph graph;
  std::vector<Function> functions;

  // Opset version imported for `domain` ("" and "ai.onnx" are the same), or 0 if none.
  int64_t opset(const std::string& domain = "") const;
};

}  // namespace dyad
