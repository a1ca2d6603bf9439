#include "integer_kernels/forced_isa.h"

#include <cstdlib>

namespace dyad {

std::string forced_isa() {
  const char* forced = std::getenv("DYAD_FORCE_ISA");
  return forced ? forced : "";
}

bool reference_isa_forced() { return forced_isa() == "reference"; }

}  // namespace dyad
