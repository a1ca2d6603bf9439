// Expanding model-local functions (ModelProto.functions) into the graph.
#pragma once
#include <functional>

#include "lib/ir/graph.h"

namespace dyad {

// A copy of model.graph in which every call of a model-local function (node domain and op type
// equal to a function's domain and name) is replaced by the function's body, with values
// renamed so they cannot clash and attribute references resolved from the call. Functions that
// call functions are expanded too. Calls inside subgraphs are expanded the same way.
// Functions for which `keep` returns true stay as calls (an executor with a native kernel for
// them); bodies that call them are still expanded around the call.
Graph inline_functions(const Model& model, const std::function<bool(const Function&)>& keep = {});

}  // namespace dyad
