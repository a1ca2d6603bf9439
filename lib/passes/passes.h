// Graph rewrites that prepare a float model for calibration and quantization.
//
// Each pass edits the model in place, returns true if it changed anything, and recurses into
// subgraphs (If/Loop bodies). Every pass preserves the model's outputs up to float rounding;
// tests/passes_test.cc runs models before and after each pass and compares.
#pragma once
#include <string>
#include <vector>

#include "lib/ir/graph.h"

namespace dyad {

// Removes Identity nodes and inference-mode Dropout (whose mask is unused) by rewiring readers
// to the node's input.
bool remove_identity(Model& model);

// Evaluates nodes whose inputs are all constant (initializers or Constant nodes) with the
// executor's kernels and stores the results as initializers; Constant nodes become
// initializers; Shape of a value whose shape is fully known becomes a constant. Results larger
// than `max_bytes` are left to run time, so folding never bloats the file.
bool fold_constants(Model& model, size_t max_bytes = size_t{16} << 20);

// Folds inference BatchNormalization into a preceding Conv, Gemm or 2-D MatMul whose output it
// alone reads: W' = W * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
bool fold_batchnorm(Model& model);

// Replaces LayerNormalization written out as ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div,
// Mul and Add over the last axis by the single op (opset 17 and above only).
bool fuse_layer_norm(Model& model);

// Cross-layer equalization (Nagel et al. 2019): for a Conv, Gemm or MatMul with constant
// weights whose output reaches another such layer only through Relu or MaxPool, rescales the
// first layer's output channels and the second's input channels so both have the same weight
// range; the model's function is unchanged. A depthwise Conv can be the first layer. Top-level
// graph only. Returns the number of layer pairs equalized; `depthwise_pairs`, if given, receives
// how many of them start with a depthwise Conv (the case the method was made for).
int equalize_cross_layer(Model& model, int* depthwise_pairs = nullptr);

// The standard preparation: remove_identity, fold_constants, fold_batchnorm, fuse_layer_norm, repeated until
// nothing changes. Returns the names of the passes that changed the model, in order.
std::vector<std::string> prepare_graph(Model& model);

}  // namespace dyad
