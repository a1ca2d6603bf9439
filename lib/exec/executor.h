// The float reference executor: runs a Model's graph op by op on CPU.
//
//   dyad::Executor exec(model, {.threads = 2});
//   std::vector<dyad::Tensor> outputs = exec.run({{"input", x}});
//
// Construction checks every op (subgraphs included) and throws one Error listing all
// unsupported ops with their node names. run() is const and may be called repeatedly; it is not
// thread-safe to call run() from several threads at once because the thread count is a process
// setting (OpenMP and Eigen). Each intermediate tensor is freed after its last reader, so memory
// stays near the largest live set, not the sum of all activations.
#pragma once
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/exec/kernel.h"
#include "lib/ir/graph.h"

namespace dyad {

struct ExecOptions {
  int threads = 0;  // 0: all cores
  bool profile = false;  // accumulate wall time per op type (see Executor::profile())
  bool profile_nodes = false;  // with profile: one entry per node (label and output shape) instead
  // Apply a Relu or constant Clip inside the Conv before it (as ONNX Runtime's FusedConv does).
  // The pre-activation value is then never materialized, so calibration turns this off.
  bool fuse_activations = true;
  // Run calls of the canonical ai.dyad functions (DyadicRequant, DyadicAdd, IntegerLayerNorm,
  // IntegerSqrt) with native kernels instead of their bodies; same results, far fewer passes.
  bool native_functions = true;
  // With native_functions: fuse ConvInteger + bias Add + DyadicRequant into one step that
  // requantizes in the integer GEMM's output stage (lib/exec/fuse_integer.h).
  bool fuse_integer = true;
  // Integer GEMM products of fewer multiply-adds run on one thread: sharing one costs an OpenMP
  // region (2.4-2.8 us here) and each thread reading activations the other core packed (see
  // share_product in lib/exec/ops/conv_integer_kernels.cc). Tests set 0 to share small ones.
  int64_t min_shared_product = int64_t{1} << 22;
};

// Wall time spent per op type over all run() calls of a profiling executor.
struct OpProfile {
  std::string op_type;
  double milliseconds = 0;
  int64_t calls = 0;
};

// Called with every value a node produces (calibration observers hook in here).
using ValueObserver = std::function<void(const std::string& name, const Tensor& value)>;
// Called with every value a node produces, before any node reads it, and allowed to change its
// elements in place (not its type or shape): how empirical bias correction shifts a layer's
// accumulators before the layers after it see them.
using ValueRewriter = std::function<void(const std::string& name, Tensor& value)>;

class Executor {
 public:
  Executor(const Model& model, ExecOptions options = {});
  // Subgraph executor (If branches); `opset` is the enclosing model's.
  Executor(const Graph& graph, int64_t opset, ExecOptions options);
  ~Executor();

  // Inputs by name; every graph input must be given, with matching type and rank. Returns the
  // graph outputs in declaration order.
  std::vector<Tensor> run(const std::map<std::string, Tensor>& inputs, const ValueObserver& observer = {}) const;
  // Same, with a rewriter instead of an observer.
  std::vector<Tensor> run_rewriting(const std::map<std::string, Tensor>& inputs, const ValueRewriter& rewriter) const;
  // Same, for a subgraph: names not defined inside are resolved through `scope`.
  std::vector<Tensor> run_subgraph(const std::function<const Tensor*(const std::string&)>& scope) const;

  const Graph& graph() const { return graph_; }
  const ExecOptions& options() const { return options_; }
  // Per-op-type totals, most expensive first (empty unless options.profile).
  std::vector<OpProfile> profile() const;
  // The compiled executor of a subgraph attribute of one of this graph's nodes.
  const Executor& subgraph(const Graph* g) const;

 private:
  struct Step {
    const Node* node;
    KernelFn kernel;
    std::vector<int> inputs;    // slot per input, -1 if omitted
    std::vector<int> outputs;   // slot per output, -1 if unnamed
    std::vector<int> release;   // slots whose last reader is this step
    float clamp_lo = -std::numeric_limits<float>::infinity(), clamp_hi = std::numeric_limits<float>::infinity();
    bool removed = false;       // fused into its producer
    uint32_t constant_inputs = 0;  // bit i: input i is an initializer
  };
  void fuse_activations();
  void compile();
  std::vector<Tensor> run_with(const std::map<std::string, Tensor>& inputs, const ValueRewriter& rewriter) const;
  std::vector<Tensor> execute(std::vector<Tensor>& slots, const ValueRewriter& rewriter,
                              const std::function<const Tensor*(const std::string&)>* scope) const;
  int slot_of(const std::string& name);

  Graph graph_;
  int64_t opset_ = 0;
  ExecOptions options_;
  std::unordered_map<std::string, int> slot_index_;
  std::vector<std::string> slot_names_;
  std::vector<Step> steps_;
  mutable std::vector<std::shared_ptr<void>> node_caches_;
  std::vector<int> input_slots_, output_slots_, captured_slots_;
  std::vector<std::pair<int, Tensor>> constants_;  // initializers
  std::map<const Graph*, std::unique_ptr<Executor>> subgraphs_;
  mutable std::map<std::string, OpProfile> profile_;
};

// Applies the thread count to OpenMP and Eigen (0: hardware concurrency).
void set_thread_count(int threads);

// Throws Error listing every op in `model` (subgraphs included) that the executor cannot run.
void check_supported(const Model& model);

}  // namespace dyad
