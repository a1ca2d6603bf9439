#include "lib/compress/opset_upgrade.h"

#include "formats/onnx/onnx_io.h"
#include "lib/exec/executor.h"
#include "lib/passes/passes.h"

namespace dyad {

namespace {

// Adds a value_info of known rank (dimensions left symbolic) for every value the run produced
// that shape inference left without a shape.
void annotate_ranks(Model& model, const std::map<std::string, Tensor>& probe, int threads) {
  std::map<std::string, std::pair<DType, size_t>> seen;
  const Executor exec(model, {.threads = threads});
  exec.run(probe, [&](const std::string& name, const Tensor& v) { seen[name] = {v.dtype(), static_cast<size_t>(v.rank())}; });
  for (auto& vi : model.graph.value_info) {
    auto it = seen.find(vi.name);
    if (it == seen.end() || vi.has_shape) continue;
    vi.has_shape = true;
    vi.dims.assign(it->second.second, Dim{});
  }
  for (const auto& [name, info] : seen) {
    if (model.graph.find_value_info(name) || model.graph.initializers.count(name)) continue;
    bool is_io = false;
    for (const auto& v : model.graph.inputs) is_io |= v.name == name;
    for (const auto& v : model.graph.outputs) is_io |= v.name == name;
    if (is_io) continue;
    ValueInfo vi;
    vi.name = name;
    vi.dtype = info.first;
    vi.has_shape = true;
    vi.dims.assign(info.second, Dim{});
    model.graph.value_info.push_back(std::move(vi));
  }
}

}  // namespace

void upgrade_to_emit_opset(Model& model, const std::map<std::string, Tensor>& probe, int threads) {
  if (model.opset("") == kEmitOpset) return;
  if (model.opset("") < kEmitOpset) annotate_ranks(model, probe, threads);
  upgrade_opset(model, kEmitOpset);
  prepare_graph(model);
}

}  // namespace dyad
