#include "formats/onnx/proto_convert.h"

#include <cstring>
#include <functional>

#include "formats/onnx/external_data.h"

namespace dyad::proto {

namespace {

template <typename Dst, typename Src>
void copy_field(const Src& field, Tensor& t) {
  Dst* out = t.data<Dst>();
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<Dst>(field.Get(i));
}

void check_count(const onnx::TensorProto& p, int64_t have, int64_t want) {
  if (have != want)
    fail("tensor '{}': holds {} values but shape {} needs {}", p.name(), have,
         shape_to_string(Shape(p.dims().begin(), p.dims().end())), want);
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& p) {
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    fail("tensor '{}': external data was not resolved", p.name());
  if (!dtype_is_known(p.data_type()))
    fail("tensor '{}': unsupported data type {}", p.name(), p.data_type());
  const DType dtype = static_cast<DType>(p.data_type());
  if (dtype == DType::String) fail("tensor '{}': string tensors are not supported", p.name());
  Shape shape(p.dims().begin(), p.dims().end());
  Tensor t(dtype, shape);  // checks negative dims and overflow
  const int64_t n = t.numel();
  if (p.has_raw_data()) {
    const size_t want = t.nbytes();
    if (p.raw_data().size() != want)
      fail("tensor '{}': raw data is {} bytes but shape {} of type {} needs {}", p.name(), p.raw_data().size(),
           shape_to_string(shape), dtype_name(dtype), want);
    if (want) std::memcpy(t.raw(), p.raw_data().data(), want);
    return t;
  }
  switch (dtype) {
    case DType::Float32: check_count(p, p.float_data_size(), n); copy_field<float>(p.float_data(), t); break;
    case DType::Float64: check_count(p, p.double_data_size(), n); copy_field<double>(p.double_data(), t); break;
    case DType::Int64: check_count(p, p.int64_data_size(), n); copy_field<int64_t>(p.int64_data(), t); break;
    case DType::UInt32: check_count(p, p.uint64_data_size(), n); copy_field<uint32_t>(p.uint64_data(), t); break;
    case DType::UInt64: check_count(p, p.uint64_data_size(), n); copy_field<uint64_t>(p.uint64_data(), t); break;
    case DType::Int32: check_count(p, p.int32_data_size(), n); copy_field<int32_t>(p.int32_data(), t); break;
    case DType::Int8: check_count(p, p.int32_data_size(), n); copy_field<int8_t>(p.int32_data(), t); break;
    case DType::UInt8:
    case DType::Bool: check_count(p, p.int32_data_size(), n); copy_field<uint8_t>(p.int32_data(), t); break;
    case DType::Int16: check_count(p, p.int32_data_size(), n); copy_field<int16_t>(p.int32_data(), t); break;
    case DType::UInt16:
    case DType::Float16:
    case DType::BFloat16: check_count(p, p.int32_data_size(), n); copy_field<uint16_t>(p.int32_data(), t); break;
    case DType::Int4:
    case DType::UInt4:  // int32_data holds the packed bytes, one per entry
      check_count(p, p.int32_data_size(), static_cast<int64_t>(t.nbytes()));
      copy_field<uint8_t>(p.int32_data(), t);
      break;
    default: fail("tensor '{}': unsupported data type {}", p.name(), dtype_name(dtype));
  }
  return t;
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->Clear();
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  p->set_raw_data(t.raw(), t.nbytes());
}

namespace {

Graph graph_from_proto(const onnx::GraphProto& g);
void graph_to_proto(const Graph& g, onnx::GraphProto* p);

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& v) {
  ValueInfo vi;
  vi.name = v.name();
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    vi.dtype = dtype_is_known(tt.elem_type()) ? static_cast<DType>(tt.elem_type()) : DType::Undefined;
    if (tt.has_shape()) {
      vi.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        if (d.has_dim_param()) dim.param = d.dim_param();
        vi.dims.push_back(dim);
      }
    }
  }
  return vi;
}

void value_info_to_proto(const ValueInfo& vi, onnx::ValueInfoProto* p) {
  p->set_name(vi.name);
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(vi.dtype));
  if (vi.has_shape) {
    auto* shape = tt->mutable_shape();
    for (const Dim& d : vi.dims) {
      auto* dp = shape->add_dim();
      if (d.known()) dp->set_dim_value(d.value);
      else if (!d.param.empty()) dp->set_dim_param(d.param);
    }
  }
}

Attribute attribute_from_proto(const onnx::AttributeProto& a) {
  Attribute attr;
  attr.ref_attr_name = a.ref_attr_name();
  using A = onnx::AttributeProto;
  switch (a.type()) {
    case A::FLOAT: attr.kind = Attribute::Kind::Float; attr.f = a.f(); break;
    case A::INT: attr.kind = Attribute::Kind::Int; attr.i = a.i(); break;
    case A::STRING: attr.kind = Attribute::Kind::String; attr.s = a.s(); break;
    case A::TENSOR: attr.kind = Attribute::Kind::Tensor; attr.t = tensor_from_proto(a.t()); break;
    case A::GRAPH:
      attr.kind = Attribute::Kind::Graph;
      attr.g = std::make_shared<Graph>(graph_from_proto(a.g()));
      break;
    case A::FLOATS: attr.kind = Attribute::Kind::Floats; attr.floats.assign(a.floats().begin(), a.floats().end()); break;
    case A::INTS: attr.kind = Attribute::Kind::Ints; attr.ints.assign(a.ints().begin(), a.ints().end()); break;
    case A::STRINGS: attr.kind = Attribute::Kind::Strings; attr.strings.assign(a.strings().begin(), a.strings().end()); break;
    case A::GRAPHS:
      attr.kind = Attribute::Kind::Graphs;
      for (const auto& g : a.graphs()) attr.graphs.push_back(std::make_shared<Graph>(graph_from_proto(g)));
      break;
    default:
      // Kinds no Dyad pass reads (sparse tensors, type protos): keep the serialized message so
      // saving the model writes it back unchanged.
      attr.kind = Attribute::Kind::Unsupported;
      attr.s = a.SerializeAsString();
      break;
  }
  return attr;
}

void attribute_to_proto(const std::string& name, const Attribute& attr, onnx::AttributeProto* p) {
  using A = onnx::AttributeProto;
  if (attr.kind == Attribute::Kind::Unsupported) {
    p->ParseFromString(attr.s);
    return;
  }
  p->set_name(name);
  if (!attr.ref_attr_name.empty()) p->set_ref_attr_name(attr.ref_attr_name);
  switch (attr.kind) {
    case Attribute::Kind::Float: p->set_type(A::FLOAT); p->set_f(attr.f); break;
    case Attribute::Kind::Int: p->set_type(A::INT); p->set_i(attr.i); break;
    case Attribute::Kind::String: p->set_type(A::STRING); p->set_s(attr.s); break;
    case Attribute::Kind::Tensor: p->set_type(A::TENSOR); tensor_to_proto(attr.t, "", p->mutable_t()); break;
    case Attribute::Kind::Graph: p->set_type(A::GRAPH); graph_to_proto(*attr.g, p->mutable_g()); break;
    case Attribute::Kind::Floats: p->set_type(A::FLOATS); for (float f : attr.floats) p->add_floats(f); break;
    case Attribute::Kind::Ints: p->set_type(A::INTS); for (int64_t i : attr.ints) p->add_ints(i); break;
    case Attribute::Kind::Strings: p->set_type(A::STRINGS); for (const auto& s : attr.strings) p->add_strings(s); break;
    case Attribute::Kind::Graphs:
      p->set_type(A::GRAPHS);
      for (const auto& g : attr.graphs) graph_to_proto(*g, p->add_graphs());
      break;
    case Attribute::Kind::Unsupported: break;
  }
}

Node node_from_proto(const onnx::NodeProto& n) {
  Node node;
  node.name = n.name();
  node.op_type = n.op_type();
  node.domain = n.domain() == "ai.onnx" ? "" : n.domain();
  node.inputs.assign(n.input().begin(), n.input().end());
  node.outputs.assign(n.output().begin(), n.output().end());
  for (const auto& a : n.attribute()) node.attrs[a.name()] = attribute_from_proto(a);
  return node;
}

void node_to_proto(const Node& node, onnx::NodeProto* p) {
  p->set_name(node.name);
  p->set_op_type(node.op_type);
  if (!node.domain.empty()) p->set_domain(node.domain);
  for (const auto& i : node.inputs) p->add_input(i);
  for (const auto& o : node.outputs) p->add_output(o);
  for (const auto& [name, attr] : node.attrs) attribute_to_proto(name, attr, p->add_attribute());
}

Graph graph_from_proto(const onnx::GraphProto& g) {
  Graph graph;
  graph.name = g.name();
  graph.doc_string = g.doc_string();
  for (const auto& t : g.initializer()) {
    if (graph.initializers.count(t.name())) fail("graph '{}': initializer '{}' is defined twice", g.name(), t.name());
    graph.initializers[t.name()] = tensor_from_proto(t);
  }
  if (g.sparse_initializer_size() > 0) fail("graph '{}': sparse initializers are not supported", g.name());
  for (const auto& v : g.input())
    if (!graph.initializers.count(v.name())) graph.inputs.push_back(value_info_from_proto(v));
  for (const auto& v : g.output()) graph.outputs.push_back(value_info_from_proto(v));
  for (const auto& v : g.value_info()) graph.value_info.push_back(value_info_from_proto(v));
  for (const auto& n : g.node()) graph.nodes.push_back(node_from_proto(n));
  return graph;
}

void graph_to_proto(const Graph& g, onnx::GraphProto* p) {
  p->set_name(g.name);
  if (!g.doc_string.empty()) p->set_doc_string(g.doc_string);
  for (const auto& n : g.nodes) node_to_proto(n, p->add_node());
  for (const auto& [name, t] : g.initializers) tensor_to_proto(t, name, p->add_initializer());
  for (const auto& v : g.inputs) value_info_to_proto(v, p->add_input());
  for (const auto& v : g.outputs) value_info_to_proto(v, p->add_output());
  for (const auto& v : g.value_info) value_info_to_proto(v, p->add_value_info());
}

// Visits every TensorProto in the graph: initializers, Constant-style tensor attributes, and
// the same inside subgraphs.
void for_each_tensor(onnx::GraphProto* g, const std::function<void(onnx::TensorProto*)>& fn) {
  for (auto& t : *g->mutable_initializer()) fn(&t);
  for (auto& n : *g->mutable_node())
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) fn(a.mutable_t());
      for (auto& t : *a.mutable_tensors()) fn(&t);
      if (a.has_g()) for_each_tensor(a.mutable_g(), fn);
      for (auto& sub : *a.mutable_graphs()) for_each_tensor(&sub, fn);
    }
}

}  // namespace

Model model_from_proto(const onnx::ModelProto& p) {
  Model m;
  m.ir_version = p.ir_version();
  for (const auto& op : p.opset_import()) m.opset_imports.push_back({op.domain() == "ai.onnx" ? "" : op.domain(), op.version()});
  m.producer_name = p.producer_name();
  m.producer_version = p.producer_version();
  m.domain = p.domain();
  m.model_version = p.model_version();
  m.doc_string = p.doc_string();
  for (const auto& kv : p.metadata_props()) m.metadata[kv.key()] = kv.value();
  m.graph = graph_from_proto(p.graph());
  for (const auto& f : p.functions()) {
    Function fn;
    fn.name = f.name();
    fn.domain = f.domain();
    fn.doc_string = f.doc_string();
    fn.inputs.assign(f.input().begin(), f.input().end());
    fn.outputs.assign(f.output().begin(), f.output().end());
    fn.attributes.assign(f.attribute().begin(), f.attribute().end());
    for (const auto& n : f.node()) fn.nodes.push_back(node_from_proto(n));
    for (const auto& op : f.opset_import()) fn.opset_imports.push_back({op.domain(), op.version()});
    m.functions.push_back(std::move(fn));
  }
  return m;
}

void model_to_proto(const Model& m, onnx::ModelProto* p) {
  p->Clear();
  p->set_ir_version(m.ir_version);
  for (const auto& op : m.opset_imports) {
    auto* o = p->add_opset_import();
    o->set_domain(op.domain);
    o->set_version(op.version);
  }
  if (!m.producer_name.empty()) p->set_producer_name(m.producer_name);
  if (!m.producer_version.empty()) p->set_producer_version(m.producer_version);
  if (!m.domain.empty()) p->set_domain(m.domain);
  if (m.model_version) p->set_model_version(m.model_version);
  if (!m.doc_string.empty()) p->set_doc_string(m.doc_string);
  for (const auto& [k, v] : m.metadata) {
    auto* kv = p->add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  graph_to_proto(m.graph, p->mutable_graph());
  for (const auto& fn : m.functions) {
    auto* f = p->add_functions();
    f->set_name(fn.name);
    f->set_domain(fn.domain);
    if (!fn.doc_string.empty()) f->set_doc_string(fn.doc_string);
    for (const auto& i : fn.inputs) f->add_input(i);
    for (const auto& o : fn.outputs) f->add_output(o);
    for (const auto& a : fn.attributes) f->add_attribute(a);
    for (const auto& n : fn.nodes) node_to_proto(n, f->add_node());
    for (const auto& op : fn.opset_imports) {
      auto* o = f->add_opset_import();
      o->set_domain(op.domain);
      o->set_version(op.version);
    }
  }
}

void check_tensor_dims(onnx::ModelProto& p) {
  for_each_tensor(p.mutable_graph(), [](onnx::TensorProto* t) {
    try {
      shape_numel(Shape(t->dims().begin(), t->dims().end()));
    } catch (const Error& e) {
      fail("tensor '{}': {}", t->name(), e.what());
    }
  });
}

void inline_external_data(onnx::ModelProto& p, const std::filesystem::path& model_dir) {
  for_each_tensor(p.mutable_graph(), [&](onnx::TensorProto* t) {
    if (t->data_location() != onnx::TensorProto::EXTERNAL) return;
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : t->external_data()) {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    }
    auto file = resolve_external_location(model_dir, location, t->name());
    auto bytes = read_external_bytes(file, offset, length, t->name());
    t->set_raw_data(bytes.data(), bytes.size());
    t->clear_external_data();
    t->set_data_location(onnx::TensorProto::DEFAULT);
  });
}

}  // namespace dyad::proto
