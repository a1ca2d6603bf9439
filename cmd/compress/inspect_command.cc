#include <algorithm>
#include <cstdio>

#include "cmd/compress/commands.h"
#include "formats/onnx/onnx_io.h"
#include "lib/ir/model_stats.h"
#include "lib/passes/passes.h"

namespace dyad::cli {

namespace {

std::string human_bytes(int64_t b) {
  if (b >= (int64_t{1} << 20)) return fmt::format("{:.2f} MiB", static_cast<double>(b) / (1 << 20));
  if (b >= 1024) return fmt::format("{:.1f} KiB", static_cast<double>(b) / 1024);
  return fmt::format("{} B", b);
}

std::string human_count(int64_t n) {
  if (n >= 1000000000) return fmt::format("{:.2f} G", static_cast<double>(n) / 1e9);
  if (n >= 1000000) return fmt::format("{:.2f} M", static_cast<double>(n) / 1e6);
  if (n >= 1000) return fmt::format("{:.1f} k", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

// The prepared graph, one node per line: what the quantizer will walk.
void print_prepared_nodes(Model model) {
  prepare_graph(model);
  const Graph& g = model.graph;
  std::printf("\nprepared graph: %zu nodes, %zu initializers\n", g.nodes.size(), g.initializers.size());
  for (size_t i : g.topological_order()) {
    const Node& n = g.nodes[i];
    std::string ins, outs;
    for (const auto& in : n.inputs) ins += fmt::format("{}{}{}", ins.empty() ? "" : ", ", in, g.initializers.count(in) ? " (const)" : "");
    for (const auto& out : n.outputs) outs += fmt::format("{}{}", outs.empty() ? "" : ", ", out);
    std::printf("  %-20s %-28s %s -> %s\n", n.op_type.c_str(), n.name.empty() ? "(unnamed)" : n.name.c_str(), ins.c_str(), outs.c_str());
  }
}

}  // namespace

void run_inspect(const InspectOptions& options) {
  const Model model = load_onnx(options.model);
  const ModelStats stats = model_stats(model);
  std::printf("model: %s (ir_version %lld, opset %lld", options.model.c_str(), static_cast<long long>(model.ir_version),
              static_cast<long long>(model.opset("")));
  if (!model.producer_name.empty()) std::printf(", from %s %s", model.producer_name.c_str(), model.producer_version.c_str());
  std::printf(")\n\ninputs:\n");
  for (const auto& v : model.graph.inputs)
    std::printf("  %-24s %-8s %s\n", v.name.c_str(), dtype_name(v.dtype).c_str(), v.shape_string().c_str());
  std::printf("outputs:\n");
  for (const auto& v : model.graph.outputs)
    std::printf("  %-24s %-8s %s\n", v.name.c_str(), dtype_name(v.dtype).c_str(), v.shape_string().c_str());

  std::vector<std::pair<int, std::string>> ops;
  int nodes = 0;
  for (const auto& [op, n] : stats.op_counts) ops.emplace_back(-n, op), nodes += n;
  std::sort(ops.begin(), ops.end());
  std::printf("\nops: %d nodes\n", nodes);
  for (const auto& [n, op] : ops) std::printf("  %-24s %d\n", op.c_str(), -n);

  std::printf("\nparameters: %s (%s in initializers and Constant nodes)\n", human_count(stats.parameter_count).c_str(),
              human_bytes(stats.parameter_bytes).c_str());

  std::printf("\nMACs per layer%s:\n", stats.assumed_unit_dims ? " (symbolic dimensions such as the batch taken as 1)" : "");
  const size_t shown = options.all_layers ? stats.layers.size() : std::min<size_t>(stats.layers.size(), 40);
  for (size_t i = 0; i < shown; ++i) {
    const auto& l = stats.layers[i];
    const double share = stats.total_macs ? 100.0 * static_cast<double>(l.macs) / static_cast<double>(stats.total_macs) : 0;
    std::printf("  %-32s %-14s %-20s %12s %5.1f%%\n", l.node_name.c_str(), l.op_type.c_str(),
                shape_to_string(l.output_shape).c_str(), human_count(l.macs).c_str(), share);
  }
  if (shown < stats.layers.size())
    std::printf("  ... %zu more layers (--all-layers lists every one)\n", stats.layers.size() - shown);
  std::printf("  total: %s MACs in %zu compute layers\n", human_count(stats.total_macs).c_str(), stats.layers.size());
  if (options.nodes) print_prepared_nodes(model);
}

}  // namespace dyad::cli
