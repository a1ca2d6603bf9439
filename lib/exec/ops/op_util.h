// Helpers shared by the op implementations: axis handling, broadcasting, type dispatch and
// a parallel-for that only spawns threads when the work is large enough to pay for them.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "lib/exec/kernel.h"

namespace dyad::ops {

// Wraps a possibly negative axis into [0, rank); fails with the node's label if out of range.
int normalize_axis(const KernelContext& ctx, int64_t axis, int rank);

// Numpy-style broadcast of two or more shapes.
Shape broadcast_shapes(const KernelContext& ctx, const Shape& a, const Shape& b);

// Strides of `shape` (C order) aligned right to a rank-`out_rank` output; broadcast dims get 0.
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape);

// Runs fn(begin, end) over [0, n) in chunks; parallel only if n * cost_per_item is large.
template <typename F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& fn) {
  const int64_t work = n * std::max<int64_t>(cost_per_item, 1);
  const int threads = omp_get_max_threads();
  if (threads <= 1 || work < (int64_t{1} << 17) || n < 2) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(n, threads);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) fn(n * c / chunks, n * (c + 1) / chunks);
}

// The same for many equal items (a batch's images): handed out a few at a time as threads
// finish, so that one thread slowed by the host does not leave the others waiting at the end.
template <typename F>
void parallel_for_balanced(int64_t n, int64_t cost_per_item, F&& fn) {
  const int threads = omp_get_max_threads();
  if (threads <= 1 || n < 4 * threads) return parallel_for(n, cost_per_item, fn);
  const int64_t per_chunk = std::max<int64_t>(1, n / (8 * threads)), chunks = (n + per_chunk - 1) / per_chunk;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) fn(c * per_chunk, std::min(n, (c + 1) * per_chunk));
}

// Calls f(T{}) with T the C++ type of `dtype`, for the numeric types in the list.
#define DYAD_DISPATCH_CASE(DT, T) \
  case DType::DT: f(T{}); break;

template <typename F>
void dispatch_numeric(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    DYAD_DISPATCH_CASE(Float32, float)
    DYAD_DISPATCH_CASE(Float64, double)
    DYAD_DISPATCH_CASE(Int8, int8_t)
    DYAD_DISPATCH_CASE(UInt8, uint8_t)
    DYAD_DISPATCH_CASE(Int16, int16_t)
    DYAD_DISPATCH_CASE(UInt16, uint16_t)
    DYAD_DISPATCH_CASE(Int32, int32_t)
    DYAD_DISPATCH_CASE(UInt32, uint32_t)
    DYAD_DISPATCH_CASE(Int64, int64_t)
    DYAD_DISPATCH_CASE(UInt64, uint64_t)
    default: ctx.fail("type {} is not supported", dtype_name(dtype));
  }
}

// Numeric types plus bool (comparisons, Where, Equal).
template <typename F>
void dispatch_all(const KernelContext& ctx, DType dtype, F&& f) {
  if (dtype == DType::Bool) f(bool{});
  else dispatch_numeric(ctx, dtype, f);
}

template <typename F>
void dispatch_float(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    DYAD_DISPATCH_CASE(Float32, float)
    DYAD_DISPATCH_CASE(Float64, double)
    default: ctx.fail("type {} is not supported (float or double expected)", dtype_name(dtype));
  }
}

// Copies elements by byte size (any type, packed 4-bit excluded): memcpy-based gather helpers.
size_t element_size(const KernelContext& ctx, DType dtype);

// Reads an optional int64/int32 1-D input as a vector (empty if absent).
std::vector<int64_t> optional_ints(const KernelContext& ctx, size_t input);

// Axes of a reduce/squeeze-style op from the attribute (older opsets) or the input (newer).
std::vector<int64_t> axes_from_attr_or_input(const KernelContext& ctx, size_t input);

// ONNX activation functions by name (used by RNNs).
float apply_activation(const std::string& name, float x, float alpha, float beta);

}  // namespace dyad::ops
