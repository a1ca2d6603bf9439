// Small helpers the passes share for editing graphs.
#pragma once
#include <string>

#include "lib/ir/graph.h"

namespace dyad {

// True if any node of g (or of its subgraphs, as a captured name) reads `value`.
bool is_read_anywhere(const Graph& g, const std::string& value);
// Replaces every read of `from` by `to` in g's nodes and, for captured names, in subgraphs
// (unless a subgraph defines its own `from`).
void rename_reads(Graph& g, const std::string& from, const std::string& to);
// Number of reads of `value` by g's nodes (a node reading it twice counts twice), including
// captured reads in subgraphs, plus one if it is a graph output.
int use_count(const Graph& g, const std::string& value);

}  // namespace dyad
