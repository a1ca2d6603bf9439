// Byte table lookup, y[i] = table[x[i]] for a 256-entry uint8 table: how the integer emitter
// evaluates every elementwise nonlinearity (GELU, hard-swish, sigmoid gates, ...) on uint8
// activations. Variants: a scalar reference (u8_lut256__ref) and an AVX-512 VBMI one
// (u8_lut256_64__avx512vbmi: the table lives in four registers, two vpermi2b look up 64
// bytes at once and the index's top bit picks between them), chosen at run time;
// DYAD_FORCE_ISA=reference forces the reference, as it does for the GEMM.
#pragma once
#include <cstdint>

namespace dyad {

enum class LookupIsa { Reference = 0, Avx512Vbmi = 1 };
bool lookup_isa_supported(LookupIsa isa);
LookupIsa lookup_isa_best();  // honours DYAD_FORCE_ISA=reference
void u8_lut256(LookupIsa isa, const uint8_t table[256], const uint8_t* x, int64_t n, uint8_t* y);
int64_t u8_lut256_calls(LookupIsa isa);

}  // namespace dyad
