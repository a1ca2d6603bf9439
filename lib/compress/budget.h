// --budget: comma-separated constraints, e.g. "bits=8", "size=25%", "bits=4.5,latency=0.6x".
//
//   bits=B      average weight bits
//   size=P% | size=N{B,KB,MB,GB}   weight bytes, relative to the float model or absolute
//   bops=P%     bit operations relative to the float model
//   latency=Fx  measured latency relative to the float model
//
// parse_budget checks the syntax (Error of kind Usage); which budgets can be met is the
// compressor's business (today: W8A8 only, so bits=8 or any budget W8A8 satisfies).
#pragma once
#include <optional>
#include <string>

namespace dyad {

struct Budget {
  std::optional<double> bits;           // average weight bits
  std::optional<double> size_fraction;  // of the float model's weight bytes
  std::optional<double> size_bytes;
  std::optional<double> bops_fraction;
  std::optional<double> latency_fraction;
  std::string text;  // as given
};

Budget parse_budget(const std::string& spec);

}  // namespace dyad
