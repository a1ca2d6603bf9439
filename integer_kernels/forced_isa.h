// DYAD_FORCE_ISA, read in one place for every integer kernel family: the GEMM takes any of its
// variant names (qgemm_isa_best), and every family takes its scalar reference when it is
// "reference".
#pragma once
#include <string>

namespace dyad {

std::string forced_isa();      // DYAD_FORCE_ISA's value, "" when unset
bool reference_isa_forced();  // DYAD_FORCE_ISA=reference

}  // namespace dyad
