// Static statistics of a model for `compress inspect` and, later, the bit-allocation budgets:
// op counts, parameter count and bytes, and multiply-accumulates per compute layer.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "lib/ir/graph.h"

namespace dyad {

struct LayerMacs {
  std::string node_name, op_type;
  int64_t macs = 0;
  Shape output_shape;  // as used for the count (symbolic dims taken as 1)
};

struct ModelStats {
  std::map<std::string, int> op_counts;
  int64_t parameter_count = 0;  // elements in initializers
  int64_t parameter_bytes = 0;
  std::vector<LayerMacs> layers;  // Conv, ConvTranspose, Gemm, MatMul, in graph order
  int64_t total_macs = 0;
  bool assumed_unit_dims = false;  // a symbolic dimension (batch) was taken as 1
};

// Needs shape inference to have filled value_info for MAC counts; layers whose shapes are
// unknown count 0 MACs.
ModelStats model_stats(const Model& model);

}  // namespace dyad
