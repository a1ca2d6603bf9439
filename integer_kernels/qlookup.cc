// Dispatch, the scalar reference and path counting for the byte table lookup.
#include "integer_kernels/qlookup.h"

#include <atomic>

#include "integer_kernels/forced_isa.h"

namespace dyad {

void u8_lut256_64__avx512vbmi(const uint8_t table[256], const uint8_t* x, int64_t n, uint8_t* y);
bool avx512vbmi_cpu();

namespace {

std::atomic<int64_t> g_calls[2];

void u8_lut256__ref(const uint8_t table[256], const uint8_t* x, int64_t n, uint8_t* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = table[x[i]];
}

}  // namespace

bool lookup_isa_supported(LookupIsa isa) { return isa == LookupIsa::Reference || avx512vbmi_cpu(); }

LookupIsa lookup_isa_best() {
  static const LookupIsa best = [] {
    if (reference_isa_forced()) return LookupIsa::Reference;
    return lookup_isa_supported(LookupIsa::Avx512Vbmi) ? LookupIsa::Avx512Vbmi : LookupIsa::Reference;
  }();
  return best;
}

void u8_lut256(LookupIsa isa, const uint8_t table[256], const uint8_t* x, int64_t n, uint8_t* y) {
  if (!lookup_isa_supported(isa)) isa = LookupIsa::Reference;
  g_calls[static_cast<int>(isa)].fetch_add(1, std::memory_order_relaxed);
  if (isa == LookupIsa::Avx512Vbmi) u8_lut256_64__avx512vbmi(table, x, n, y);
  else u8_lut256__ref(table, x, n, y);
}

int64_t u8_lut256_calls(LookupIsa isa) { return g_calls[static_cast<int>(isa)].load(); }

}  // namespace dyad
