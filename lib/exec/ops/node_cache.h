// Data derived from a constant input (packed weights, say), kept in the node's cache for the
// executor's lifetime. It is derived again when the input is not an initializer (its buffer may be
// reused for other values) or its buffer changed.
#pragma once
#include <memory>

#include "lib/exec/kernel.h"

namespace dyad::ops {

template <typename T, typename Make>
const T& derived_from_input(const KernelContext& ctx, size_t input, Make&& make) {
  struct Entry {
    const void* source;
    T value;
  };
  const void* source = ctx.in(input).raw();
  const bool cacheable = ctx.node_cache && ctx.input_is_constant(input);
  if (cacheable && *ctx.node_cache) {
    const auto* entry = static_cast<const Entry*>(ctx.node_cache->get());
    if (entry->source == source) return entry->value;
  }
  auto entry = std::make_shared<Entry>(Entry{source, make()});
  thread_local std::shared_ptr<void> scratch;  // keeps an uncached value alive through the call
  if (cacheable) *ctx.node_cache = entry;
  else scratch = entry;
  return entry->value;
}

}  // namespace dyad::ops
