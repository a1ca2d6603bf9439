// Data derived from a constant input (packed weights, say), kept in the node's cache for the
// executor's lifetime. It is derived again when the input is not an initializer (its buffer may be
// reused for other values) or its buffer changed.
#pragma once
#include <initializer_list>
#include <memory>
#include <vector>

#include "lib/exec/kernel.h"

namespace dyad::ops {

// The node's cache slots: what each kind of derived data is kept in.
enum class CacheSlot : size_t { Weights = 0, OutputStage = 1, Geometry = 2, Plan = 3 };

template <typename T, typename Make>
const T& derived_from_input(const KernelContext& ctx, size_t input, Make&& make, CacheSlot slot = CacheSlot::Weights) {
  struct Entry {
    const void* source;
    T value;
  };
  static_assert(static_cast<size_t>(CacheSlot::Plan) < KernelContext::kNodeCacheSlots);
  const void* source = ctx.in(input).raw();
  const bool cacheable = ctx.node_cache && ctx.input_is_constant(input);
  std::shared_ptr<void>* cache = cacheable ? ctx.node_cache + static_cast<size_t>(slot) : nullptr;
  if (cache && *cache) {
    const auto* entry = static_cast<const Entry*>(cache->get());
    if (entry->source == source) return entry->value;
  }
  auto entry = std::make_shared<Entry>(Entry{source, make()});
  thread_local std::shared_ptr<void> scratch;  // keeps an uncached value alive through the call
  if (cache) *cache = entry;
  else scratch = entry;
  return entry->value;
}

// Data derived from the shapes a node runs on (a convolution's geometry and addressing),
// kept while those shapes stay the same and made again when one changes.
template <typename T, typename Make>
const T& derived_from_shapes(const KernelContext& ctx, CacheSlot slot, std::initializer_list<const Shape*> shapes, Make&& make) {
  struct Entry {
    std::vector<Shape> shapes;
    T value;
  };
  auto same = [&](const Entry& e) {
    if (e.shapes.size() != shapes.size()) return false;
    size_t i = 0;
    for (const Shape* s : shapes)
      if (e.shapes[i++] != *s) return false;
    return true;
  };
  std::shared_ptr<void>* cache = ctx.node_cache ? ctx.node_cache + static_cast<size_t>(slot) : nullptr;
  if (cache && *cache && same(*static_cast<const Entry*>(cache->get()))) return static_cast<const Entry*>(cache->get())->value;
  std::vector<Shape> key;
  for (const Shape* s : shapes) key.push_back(*s);
  auto entry = std::make_shared<Entry>(Entry{std::move(key), make()});
  thread_local std::shared_ptr<void> scratch;
  if (cache) *cache = entry;
  else scratch = entry;
  return entry->value;
}

}  // namespace dyad::ops
