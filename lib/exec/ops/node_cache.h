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
static_assert(static_cast<size_t>(CacheSlot::Plan) < KernelContext::kNodeCacheSlots);

namespace node_cache_detail {

// The Entry in `cache` if `matches` accepts it, else a new one from make(), stored in `cache`
// (or, with no cache, kept alive through the call).
template <typename Entry, typename Matches, typename Make>
const Entry& entry_for(std::shared_ptr<void>* cache, Matches&& matches, Make&& make) {
  if (cache && *cache) {
    const auto* entry = static_cast<const Entry*>(cache->get());
    if (matches(*entry)) return *entry;
  }
  auto entry = std::make_shared<Entry>(make());
  thread_local std::shared_ptr<void> scratch;
  if (cache) *cache = entry;
  else scratch = entry;
  return *entry;
}

}  // namespace node_cache_detail

template <typename T, typename Make>
const T& derived_from_input(const KernelContext& ctx, size_t input, Make&& make, CacheSlot slot = CacheSlot::Weights) {
  struct Entry {
    const void* source;
    T value;
  };
  const void* source = ctx.in(input).raw();
  std::shared_ptr<void>* cache = ctx.node_cache && ctx.input_is_constant(input) ? ctx.node_cache + static_cast<size_t>(slot) : nullptr;
  return node_cache_detail::entry_for<Entry>(
             cache, [&](const Entry& e) { return e.source == source; }, [&] { return Entry{source, make()}; })
      .value;
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
  auto fresh = [&] {
    std::vector<Shape> key;
    for (const Shape* s : shapes) key.push_back(*s);
    return Entry{std::move(key), make()};
  };
  std::shared_ptr<void>* cache = ctx.node_cache ? ctx.node_cache + static_cast<size_t>(slot) : nullptr;
  return node_cache_detail::entry_for<Entry>(cache, same, fresh).value;
}

}  // namespace dyad::ops
