#include "lib/exec/fuse_integer.h"

#include <algorithm>
#include <set>

#include "lib/quant/integer_functions.h"

namespace dyad {

namespace {

const Tensor* constant(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() ? nullptr : &it->second;
}

// The only node reading `value` (and it is not a graph output), or nullptr.
int sole_reader(const Graph& g, const std::string& value) {
  if (g.is_graph_output(value)) return -1;
  const auto readers = g.consumers(value);
  if (readers.size() != 1) return -1;
  int uses = 0;
  for (const auto& in : g.nodes[readers[0]].inputs) uses += in == value;
  return uses == 1 ? static_cast<int>(readers[0]) : -1;
}

// Scalar or one value per output channel, int64.
bool per_channel_int64(const Tensor* t, int64_t channels) {
  return t && t->dtype() == DType::Int64 && (t->numel() == 1 || t->numel() == channels);
}

// The requantization is the dyadic.h rescale: D = 2^s, H = 2^(s-1) (0 when s = 0), 0 <= M < 2^31,
// and the clamp inside [0, 255].
bool is_dyadic_rescale(const Graph& g, const Node& rq, int64_t channels) {
  const Tensor *m = constant(g, rq.inputs[1]), *d = constant(g, rq.inputs[2]), *h = constant(g, rq.inputs[3]);
  if (!per_channel_int64(m, channels) || !per_channel_int64(d, channels) || !per_channel_int64(h, channels)) return false;
  for (size_t i = 5; i < 7; ++i) {
    const Tensor* t = constant(g, rq.inputs[i]);
    if (!t || t->dtype() != DType::Int64 || t->numel() != 1) return false;
  }
  const int64_t qmin = constant(g, rq.inputs[5])->data<int64_t>()[0], qmax = constant(g, rq.inputs[6])->data<int64_t>()[0];
  if (qmin < 0 || qmax > 255 || qmin > qmax) return false;
  const Tensor* zp = constant(g, rq.inputs[4]);  // one, or one per channel
  if (!per_channel_int64(zp, channels)) return false;
  for (int64_t c = 0; c < zp->numel(); ++c)
    if (zp->data<int64_t>()[c] < -(int64_t{1} << 31) || zp->data<int64_t>()[c] >= (int64_t{1} << 31)) return false;
  const int64_t n = std::max({m->numel(), d->numel(), h->numel()});
  for (int64_t c = 0; c < n; ++c) {
    const int64_t mv = m->data<int64_t>()[m->numel() == 1 ? 0 : c], dv = d->data<int64_t>()[d->numel() == 1 ? 0 : c],
                  hv = h->data<int64_t>()[h->numel() == 1 ? 0 : c];
    if (mv < 0 || mv >= (int64_t{1} << 31) || dv <= 0 || (dv & (dv - 1)) != 0) return false;
    const int s = __builtin_ctzll(static_cast<unsigned long long>(dv));
    if (s > 62 || hv != (s > 0 ? int64_t{1} << (s - 1) : 0)) return false;
  }
  return true;
}

// The emitter's table lookup, Cast(x, to=INT32|INT64) read only by Gather(table, index) with a
// constant 1-D table of at least 256 entries, becomes TableLookup(x, table): one pass reading x
// directly (for uint8 x, no index can be out of range), no int32 index tensor in between. A
// per-channel table's Add of constant channel offsets between them joins as a third input.
void fuse_table_lookups(Graph& g, std::set<size_t>& dead, int& fused) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& cast = g.nodes[i];
    if (cast.op_type != "Cast" || !cast.domain.empty() || cast.inputs.size() != 1 || dead.count(i)) continue;
    const int64_t to = cast.get_int("to", 0);
    if (to != static_cast<int64_t>(DType::Int32) && to != static_cast<int64_t>(DType::Int64)) continue;
    int gather_index = sole_reader(g, cast.outputs[0]);
    if (gather_index < 0) continue;
    // A per-channel table's index first adds constant channel offsets.
    int add_index = -1;
    std::string offsets, index = cast.outputs[0];
    if (const Node& add = g.nodes[static_cast<size_t>(gather_index)]; add.op_type == "Add" && add.domain.empty() && add.inputs.size() == 2) {
      offsets = add.inputs[0] == index ? add.inputs[1] : add.inputs[0];
      const Tensor* t = constant(g, offsets);
      if (!t || t->dtype() != DType::Int32 || to != static_cast<int64_t>(DType::Int32) || add.inputs[0] == add.inputs[1]) continue;
      add_index = gather_index;
      index = add.outputs[0];
      gather_index = sole_reader(g, index);
      if (gather_index < 0) continue;
    }
    const Node& gather = g.nodes[static_cast<size_t>(gather_index)];
    const Tensor* table = gather.inputs.empty() ? nullptr : constant(g, gather.inputs[0]);
    if (gather.op_type != "Gather" || !gather.domain.empty() || gather.inputs.size() != 2 || gather.inputs[1] != index ||
        gather.get_int("axis", 0) != 0 || !table || table->rank() != 1 || table->numel() < 256)
      continue;
    Node lookup = gather;
    lookup.op_type = "TableLookup";
    lookup.domain = kExecDomain;
    lookup.inputs = {cast.inputs[0], gather.inputs[0]};
    if (!offsets.empty()) lookup.inputs.push_back(offsets);
    lookup.attrs = cast.attrs;  // `to`: the kernel applies the Cast's conversion to other index types
    g.nodes[static_cast<size_t>(gather_index)] = std::move(lookup);
    dead.insert(i);
    if (add_index >= 0) dead.insert(static_cast<size_t>(add_index));
    ++fused;
  }
}

}  // namespace

int fuse_integer_layers(Graph& g) {
  int fused = 0;
  std::set<size_t> dead;
  fuse_table_lookups(g, dead, fused);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& conv = g.nodes[i];
    if (conv.op_type != "ConvInteger" || !conv.domain.empty() || conv.inputs.size() != 3) continue;
    const Tensor* w = constant(g, conv.inputs[1]);
    const Tensor* zp = constant(g, conv.inputs[2]);
    if (!w || w->dtype() != DType::Int8 || w->rank() < 3 || !zp || zp->dtype() != DType::UInt8 || zp->numel() != 1) continue;
    const int64_t channels = w->dim(0);
    const int add_index = sole_reader(g, conv.outputs[0]);
    if (add_index < 0) continue;
    const Node& add = g.nodes[static_cast<size_t>(add_index)];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2) continue;
    const std::string& bias_name = add.inputs[0] == conv.outputs[0] ? add.inputs[1] : add.inputs[0];
    const Tensor* bias = constant(g, bias_name);
    if (!bias || bias->dtype() != DType::Int32 || bias->numel() != channels || bias->dim(0) != channels) continue;
    const int rq_index = sole_reader(g, add.outputs[0]);
    if (rq_index < 0) continue;
    const Node& rq = g.nodes[static_cast<size_t>(rq_index)];
    if (rq.op_type != "DyadicRequant" || rq.domain != kDyadDomain || rq.inputs.size() != 7 || rq.inputs[0] != add.outputs[0] ||
        !is_dyadic_rescale(g, rq, channels))
      continue;
    Node fusedNode = conv;
    fusedNode.op_type = "ConvIntegerRequant";
    fusedNode.domain = kExecDomain;
    fusedNode.inputs = {conv.inputs[0], conv.inputs[1], conv.inputs[2], bias_name};
    fusedNode.inputs.insert(fusedNode.inputs.end(), rq.inputs.begin() + 1, rq.inputs.end());
    fusedNode.outputs = rq.outputs;
    g.nodes[i] = std::move(fusedNode);
    dead.insert(static_cast<size_t>(add_index));
    dead.insert(static_cast<size_t>(rq_index));
    ++fused;
  }
  if (dead.empty()) return 0;
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!dead.count(i)) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  return fused;
}

}  // namespace dyad
