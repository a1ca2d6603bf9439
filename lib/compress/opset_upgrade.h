// Brings a prepared model to the opset the emitters write (17), so that nodes copied into the
// quantized graph keep their meaning: opset 9's attribute-form Slice/Squeeze/Clip or its 2-D
// Softmax coercion differ from opset 17's.
#pragma once
#include <map>
#include <string>

#include "lib/ir/graph.h"
#include "lib/ir/tensor.h"

namespace dyad {

inline constexpr int64_t kEmitOpset = 17;

// ONNX's version converter needs the rank of some inputs (Softmax's, for one) that shape
// inference cannot see past dynamic Reshape chains; a run on `probe` (one calibration batch)
// supplies every value's rank first. Then prepares the converted graph again.
void upgrade_to_emit_opset(Model& model, const std::map<std::string, Tensor>& probe, int threads);

}  // namespace dyad
