#include "lib/exec/executor.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "lib/exec/float16_upcast.h"
#include "lib/exec/fuse_integer.h"
#include "lib/ir/inline_functions.h"
#include "lib/quant/integer_functions.h"

namespace dyad {

namespace {

void collect_unsupported(const Graph& g, std::map<std::string, std::vector<std::string>>& missing) {
  for (const auto& n : g.nodes) {
    const bool default_domain = n.domain.empty() || n.domain == "ai.onnx";
    if (!find_node_kernel(n)) {
      std::string op = default_domain ? n.op_type : n.domain + "." + n.op_type;
      missing[op].push_back(n.name.empty() ? "<unnamed>" : n.name);
    } else if (std::string variant = unsupported_variant(n, g); !variant.empty()) {
      missing[n.op_type + "(" + variant + ")"].push_back(n.name.empty() ? "<unnamed>" : n.name);
    }
    for (const auto& [key, attr] : n.attrs) {
      if (attr.g) collect_unsupported(*attr.g, missing);
      for (const auto& sg : attr.graphs) collect_unsupported(*sg, missing);
    }
  }
}

void throw_if_unsupported(const Graph& g) {
  std::map<std::string, std::vector<std::string>> missing;
  collect_unsupported(g, missing);
  if (missing.empty()) return;
  std::string msg = "unsupported ops: ";
  bool first = true;
  for (const auto& [op, nodes] : missing) {
    msg += (first ? "" : "; ") + op + " (node" + (nodes.size() > 1 ? "s " : " ");
    for (size_t i = 0; i < nodes.size() && i < 5; ++i) msg += (i ? ", '" : "'") + nodes[i] + "'";
    if (nodes.size() > 5) msg += fmt::format(" and {} more", nodes.size() - 5);
    msg += ")";
    first = false;
  }
  throw Error(msg);
}

}  // namespace

void set_thread_count(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);
  Eigen::setNbThreads(threads);
}

void check_supported(const Model& model) {
  Graph g = inline_functions(model);
  throw_if_unsupported(g);
}

Executor::Executor(const Model& model, ExecOptions options)
    : graph_(inline_functions(model, options.native_functions ? is_canonical_dyad_function : std::function<bool(const Function&)>{})),
      opset_(model.opset("")),
      options_(options) {
  if (options.native_functions && options.fuse_integer) fuse_integer_layers(graph_);
  throw_if_unsupported(graph_);
  compile();
}

Executor::Executor(const Graph& graph, int64_t opset, ExecOptions options)
    : graph_(graph), opset_(opset), options_(options) {
  compile();
}

Executor::~Executor() = default;

int Executor::slot_of(const std::string& name) {
  auto [it, inserted] = slot_index_.emplace(name, static_cast<int>(slot_names_.size()));
  if (inserted) slot_names_.push_back(name);
  return it->second;
}

void Executor::compile() {
  graph_.sort_topologically();
  for (const auto& [name, t] : graph_.initializers) constants_.emplace_back(slot_of(name), t);
  for (const auto& in : graph_.inputs) input_slots_.push_back(slot_of(in.name));
  std::set<int> defined;
  for (const auto& [slot, t] : constants_) defined.insert(slot);
  defined.insert(input_slots_.begin(), input_slots_.end());
  for (const auto& n : graph_.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) defined.insert(slot_of(o));
  // Values read but defined nowhere here come from an enclosing graph (subgraphs only).
  for (const auto& name : graph_.captured_names()) captured_slots_.push_back(slot_of(name));

  std::vector<int> last_use(slot_names_.size(), -1);
  for (const auto& n : graph_.nodes) {
    Step step{&n, find_node_kernel(n), {}, {}, {}};
    for (const auto& in : n.inputs) {
      if (!in.empty() && graph_.initializers.count(in) && step.inputs.size() < 32)
        step.constant_inputs |= 1u << step.inputs.size();
      step.inputs.push_back(in.empty() ? -1 : slot_of(in));
    }
    for (const auto& o : n.outputs) step.outputs.push_back(o.empty() ? -1 : slot_of(o));
    for (const auto& [key, attr] : n.attrs) {
      if (attr.g) subgraphs_[attr.g.get()] = std::make_unique<Executor>(*attr.g, opset_, options_);
      for (const auto& sg : attr.graphs) subgraphs_[sg.get()] = std::make_unique<Executor>(*sg, opset_, options_);
    }
    steps_.push_back(std::move(step));
  }
  if (options_.fuse_activations) fuse_activations();
  node_caches_.resize(steps_.size() * KernelContext::kNodeCacheSlots);
  last_use.resize(slot_names_.size(), -1);
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (int in : steps_[s].inputs)
      if (in >= 0) last_use[static_cast<size_t>(in)] = static_cast<int>(s);
    // A node with subgraphs may read any captured outer value inside them.
    for (const auto& [key, attr] : steps_[s].node->attrs) {
      std::vector<const Graph*> subs;
      if (attr.g) subs.push_back(attr.g.get());
      for (const auto& sg : attr.graphs) subs.push_back(sg.get());
      for (const Graph* sg : subs)
        for (const auto& name : sg->captured_names()) {
          auto it = slot_index_.find(name);
          if (it != slot_index_.end()) last_use[static_cast<size_t>(it->second)] = static_cast<int>(s);
        }
    }
  }
  for (const auto& out : graph_.outputs) output_slots_.push_back(slot_of(out.name));
  last_use.resize(slot_names_.size(), -1);
  std::set<int> keep(output_slots_.begin(), output_slots_.end());
  for (const auto& [slot, t] : constants_) keep.insert(slot);
  for (size_t slot = 0; slot < last_use.size(); ++slot)
    if (last_use[slot] >= 0 && !keep.count(static_cast<int>(slot)))
      steps_[static_cast<size_t>(last_use[slot])].release.push_back(static_cast<int>(slot));
}

std::vector<OpProfile> Executor::profile() const {
  std::vector<OpProfile> result;
  for (const auto& [op, p] : profile_) result.push_back(p);
  std::sort(result.begin(), result.end(), [](const OpProfile& a, const OpProfile& b) { return a.milliseconds > b.milliseconds; });
  return result;
}

void Executor::fuse_activations() {
  // Conv whose output only a Relu or a constant-bound Clip reads (and nobody else sees): the
  // Conv writes the activation's output slot directly and the activation step goes away.
  std::map<int, int> readers;
  for (const Step& st : steps_)
    for (int in : st.inputs)
      if (in >= 0) readers[in]++;
  for (const auto& name : graph_.captured_names()) readers[slot_of(name)] += 2;
  for (const auto& out : graph_.outputs) readers[slot_index_.at(out.name)] += 2;
  std::map<int, size_t> producer;
  for (size_t s = 0; s < steps_.size(); ++s)
    for (int out : steps_[s].outputs)
      if (out >= 0) producer[out] = s;
  for (Step& act : steps_) {
    const Node& n = *act.node;
    if (!n.domain.empty() || act.inputs.empty() || act.inputs[0] < 0 || (n.op_type != "Relu" && n.op_type != "Clip")) continue;
    auto p = producer.find(act.inputs[0]);
    if (p == producer.end() || readers[act.inputs[0]] != 1) continue;
    Step& conv = steps_[p->second];
    if (!fusable_activation_producer(*conv.node) || conv.outputs.size() != 1) continue;
    float lo = 0.0f, hi = std::numeric_limits<float>::infinity();
    if (n.op_type == "Clip") {
      if (opset_ < 11) {
        lo = n.get_float("min", -std::numeric_limits<float>::max());
        hi = n.get_float("max", std::numeric_limits<float>::max());
      } else {
        auto bound = [&](size_t i, float fallback, bool& ok) {
          if (!n.has_input(i)) return fallback;
          auto it = graph_.initializers.find(n.inputs[i]);
          if (it == graph_.initializers.end() || it->second.dtype() != DType::Float32 || it->second.numel() != 1) {
            ok = false;
            return fallback;
          }
          return it->second.data<float>()[0];
        };
        bool ok = true;
        lo = bound(1, -std::numeric_limits<float>::infinity(), ok);
        hi = bound(2, std::numeric_limits<float>::infinity(), ok);
        if (!ok) continue;
      }
    }
    conv.clamp_lo = lo;
    conv.clamp_hi = hi;
    conv.outputs[0] = act.outputs[0];
    act.removed = true;
  }
  steps_.erase(std::remove_if(steps_.begin(), steps_.end(), [](const Step& st) { return st.removed; }), steps_.end());
}

const Executor& Executor::subgraph(const Graph* g) const {
  auto it = subgraphs_.find(g);
  DYAD_CHECK(it != subgraphs_.end());
  return *it->second;
}

std::vector<Tensor> Executor::run(const std::map<std::string, Tensor>& inputs, const ValueObserver& observer) const {
  if (!observer) return run_with(inputs, {});
  return run_with(inputs, [&observer](const std::string& name, Tensor& value) { observer(name, value); });
}

std::vector<Tensor> Executor::run_rewriting(const std::map<std::string, Tensor>& inputs, const ValueRewriter& rewriter) const {
  return run_with(inputs, rewriter);
}

std::vector<Tensor> Executor::run_with(const std::map<std::string, Tensor>& inputs, const ValueRewriter& rewriter) const {
  set_thread_count(options_.threads);
  std::vector<Tensor> slots(slot_names_.size());
  for (const auto& [slot, t] : constants_) slots[static_cast<size_t>(slot)] = t;
  for (size_t i = 0; i < graph_.inputs.size(); ++i) {
    const ValueInfo& vi = graph_.inputs[i];
    auto it = inputs.find(vi.name);
    if (it == inputs.end()) fail("input '{}' was not given", vi.name);
    const Tensor& t = it->second;
    if (vi.dtype != DType::Undefined && t.dtype() != vi.dtype)
      fail("input '{}' has type {} but the model expects {}", vi.name, dtype_name(t.dtype()), dtype_name(vi.dtype));
    if (vi.has_shape) {
      bool ok = static_cast<size_t>(t.rank()) == vi.dims.size();
      for (size_t d = 0; ok && d < vi.dims.size(); ++d)
        ok = !vi.dims[d].known() || vi.dims[d].value == t.dim(static_cast<int>(d));
      if (!ok)
        fail("input '{}' has shape {} but the model expects {}", vi.name, shape_to_string(t.shape()), vi.shape_string());
    }
    slots[static_cast<size_t>(input_slots_[i])] = t;
  }
  for (const auto& [name, t] : inputs)
    if (std::none_of(graph_.inputs.begin(), graph_.inputs.end(), [&](const ValueInfo& v) { return v.name == name; }))
      fail("the model has no input named '{}'", name);
  return execute(slots, rewriter, nullptr);
}

std::vector<Tensor> Executor::run_subgraph(const std::function<const Tensor*(const std::string&)>& scope) const {
  std::vector<Tensor> slots(slot_names_.size());
  for (const auto& [slot, t] : constants_) slots[static_cast<size_t>(slot)] = t;
  return execute(slots, {}, &scope);
}

std::vector<Tensor> Executor::execute(std::vector<Tensor>& slots, const ValueRewriter& rewriter,
                                      const std::function<const Tensor*(const std::string&)>* scope) const {
  if (scope) {
    for (int slot : captured_slots_) {
      const Tensor* t = (*scope)(slot_names_[static_cast<size_t>(slot)]);
      if (t) slots[static_cast<size_t>(slot)] = *t;
    }
  }
  // Lets nested subgraphs see this graph's live values, then the enclosing scope's.
  std::function<const Tensor*(const std::string&)> inner_scope = [&](const std::string& name) -> const Tensor* {
    auto it = slot_index_.find(name);
    if (it != slot_index_.end() && slots[static_cast<size_t>(it->second)].defined())
      return &slots[static_cast<size_t>(it->second)];
    return scope ? (*scope)(name) : nullptr;
  };
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& step = steps_[si];
    KernelContext ctx{*step.node, opset_, {}, {}, this, &inner_scope};
    ctx.clamp_lo = step.clamp_lo;
    ctx.clamp_hi = step.clamp_hi;
    ctx.node_cache = &node_caches_[si * KernelContext::kNodeCacheSlots];
    ctx.constant_inputs = step.constant_inputs;
    ctx.inputs.reserve(step.inputs.size());
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const int s = step.inputs[i];
      if (s < 0) {
        ctx.inputs.push_back(nullptr);
        continue;
      }
      const Tensor& t = slots[static_cast<size_t>(s)];
      if (!t.defined())
        fail("{}: input '{}' has no value (not produced by any node, input or initializer)", step.node->label(),
             step.node->inputs[i]);
      ctx.inputs.push_back(&t);
    }
    ctx.outputs.resize(step.outputs.size());
    const auto start = options_.profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    if (needs_float16_upcast(ctx)) run_with_float16_upcast(ctx, step.kernel);
    else step.kernel(ctx);
    if (options_.profile) {
      const std::string key = options_.profile_nodes && ctx.outputs[0].defined()
                                  ? fmt::format("{} {}", step.node->label(), shape_to_string(ctx.outputs[0].shape()))
                                  : step.node->op_type;
      OpProfile& p = profile_[key];
      p.op_type = key;
      p.milliseconds += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      ++p.calls;
    }
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      if (step.outputs[o] < 0) continue;
      if (!ctx.outputs[o].defined() && o == 0) fail("{}: produced no output", step.node->label());
      if (rewriter && ctx.outputs[o].defined()) {
        const Shape shape = ctx.outputs[o].shape();
        const DType dtype = ctx.outputs[o].dtype();
        rewriter(slot_names_[static_cast<size_t>(step.outputs[o])], ctx.outputs[o]);
        DYAD_CHECK(ctx.outputs[o].shape() == shape && ctx.outputs[o].dtype() == dtype);
      }
      slots[static_cast<size_t>(step.outputs[o])] = std::move(ctx.outputs[o]);
    }
    for (int s : step.release) slots[static_cast<size_t>(s)] = Tensor();
  }
  std::vector<Tensor> outputs;
  for (size_t i = 0; i < output_slots_.size(); ++i) {
    const Tensor& t = slots[static_cast<size_t>(output_slots_[i])];
    if (!t.defined()) {
      const Tensor* outer = scope ? (*scope)(graph_.outputs[i].name) : nullptr;
      if (!outer) fail("graph output '{}' was not produced", graph_.outputs[i].name);
      outputs.push_back(*outer);
      continue;
    }
    outputs.push_back(t);
  }
  return outputs;
}

}  // namespace dyad
