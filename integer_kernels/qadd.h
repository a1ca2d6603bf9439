// The residual add of two uint8 tensors (ai.dyad.DyadicAdd with D = 2^shift, scalar parameters):
//
//   y[i] = clamp(((a[i] - za) * ma + (b[i] - zb) * mb + h) >> shift + zp, qmin, qmax)
//
// in int64 arithmetic that wraps, as the function's ONNX body does. Variants: the scalar
// reference (u8_dyadic_add__ref) and AVX-512 (u8_dyadic_add_16__avx512: sixteen per step,
// 32 x 32 -> 64-bit products), which is used when no product or sum can wrap (multipliers in
// int32, |h| < 2^61) and is then bit-identical; DYAD_FORCE_ISA=reference forces the reference.
#pragma once
#include <cstdint>

namespace dyad {

struct QAddParams {
  int64_t za, ma, zb, mb, h;
  int shift;
  int64_t zp, qmin, qmax;
};

enum class AddIsa { Reference = 0, Avx512 = 1 };
bool add_isa_supported(AddIsa isa);
AddIsa add_isa_best();  // honours DYAD_FORCE_ISA=reference
// Falls back to the reference when the parameters are outside the AVX-512 variant's range.
void u8_dyadic_add(AddIsa isa, const QAddParams& p, const uint8_t* a, const uint8_t* b, int64_t n, uint8_t* y);
int64_t u8_dyadic_add_calls(AddIsa isa);

}  // namespace dyad
