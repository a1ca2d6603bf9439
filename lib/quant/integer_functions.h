// The model-local functions (domain ai.dyad) that integer-only graphs call. Each body is made of
// standard ONNX integer ops that ONNX Runtime runs bit-exactly (../shared/docs/onnx-integer.md):
// int64 Mul/Add/Sub, Div, Mod with fmod = 0, Less/Greater/Where for clamps (int64 Clip, Max and
// Min are wrong in ORT 1.30 for some values), and Cast. Our executor runs the same bodies, so
// both sides compute the same integers.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "lib/ir/graph.h"

namespace dyad {

inline constexpr const char* kDyadDomain = "ai.dyad";

Attribute int_attribute(int64_t v);
Attribute ints_attribute(std::vector<int64_t> v);
Node make_node(std::string type, std::vector<std::string> in, std::vector<std::string> out,
               std::map<std::string, Attribute> attrs = {});

// DyadicRequant(acc, M, D, H, ZP, QMIN, QMAX) -> uint8:
//   clamp(floor((acc * M + H) / D) + ZP, QMIN, QMAX), D = 2^s, H = 2^(s-1) or 0 (lib/quant/dyadic.h).
Function dyadic_requant_function();

// DyadicRequantIndex(acc, M, D, H, ZP, QMIN, QMAX) -> int32: the same integers as DyadicRequant,
// kept in int32 so that QMAX may exceed 255: the index of a table wider than 256 entries, for a
// value that only elementwise functions read.
Function dyadic_requant_index_function();

// DyadicAdd(a, b, ZA, MA, ZB, MB, D, H, ZP, QMIN, QMAX) -> uint8:
//   clamp(floor(((a - ZA) * MA + (b - ZB) * MB + H) / D) + ZP, QMIN, QMAX).
Function dyadic_add_function();

// IntegerSqrt(n) -> floor(sqrt(n)) for int64 1 <= n < 2^62: Newton's iteration from 2^31,
// x <- (x + n / x) / 2, unrolled kIntegerSqrtSteps times (enough to reach floor(sqrt(n)) or one
// above from the worst start, n = 1), then one correction step.
inline constexpr int kIntegerSqrtSteps = 36;
Function integer_sqrt_function();

// IntegerLayerNorm(x, ZX, N, E, K2, MG, BB, P, HP, ZP, QMIN, QMAX) -> uint8, over the last axis:
//   c = x - ZX, u = N c - sum(c)               (= N (c - mean), exact)
//   R = IntegerSqrt((sum(u^2) + E) * K2)       (~ sqrt(N^3 (var + eps) / s_x^2) * 2^k)
//   y = floor((u * MG + BB * R + HP * R) / (R * P)) + ZP, clamped
// with MG = round(gamma sqrt(N) 2^k P / s_y), BB = round(beta P / s_y), HP = P / 2, so that y is
// round(gamma * normalized + beta) in the output's integer domain.
Function integer_layer_norm_function();

// Every function above, in the order a model lists them.
std::vector<Function> dyad_functions();

// True if `f` is one of the functions above, body and all (node for node, attribute for
// attribute): an executor may then run its native kernel instead of the body, with the same
// result. A model carrying an edited body runs the body.
bool is_canonical_dyad_function(const Function& f);

}  // namespace dyad
