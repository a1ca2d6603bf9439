// Dispatch, the scalar reference and path counting for the residual add.
#include "integer_kernels/qadd.h"

#include <atomic>

#include "integer_kernels/forced_isa.h"

namespace dyad {

void u8_dyadic_add_16__avx512(const QAddParams& p, const uint8_t* a, const uint8_t* b, int64_t n, uint8_t* y);
bool avx512_add_cpu();

namespace {

std::atomic<int64_t> g_calls[2];

void u8_dyadic_add__ref(const QAddParams& p, const uint8_t* a, const uint8_t* b, int64_t n, uint8_t* y) {
  for (int64_t i = 0; i < n; ++i) {
    // uint64: the products and sums wrap like the ONNX int64 ops, without UB.
    const uint64_t sum = static_cast<uint64_t>(a[i] - p.za) * static_cast<uint64_t>(p.ma) +
                         static_cast<uint64_t>(b[i] - p.zb) * static_cast<uint64_t>(p.mb) + static_cast<uint64_t>(p.h);
    int64_t r = static_cast<int64_t>(static_cast<uint64_t>(static_cast<int64_t>(sum) >> p.shift) + static_cast<uint64_t>(p.zp));
    r = r < p.qmin ? p.qmin : r;
    r = r > p.qmax ? p.qmax : r;
    y[i] = static_cast<uint8_t>(r);
  }
}

// Where the AVX-512 variant's int64 lanes cannot wrap: |(x - z) * m| < 2^39 for uint8 x and
// zero points in [0, 255], so the two products and h stay below 2^62; results in [0, 255].
bool fits_avx512(const QAddParams& p) {
  auto in_int32 = [](int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; };
  const int64_t h_limit = int64_t{1} << 61;
  return in_int32(p.ma) && in_int32(p.mb) && p.za >= 0 && p.za <= 255 && p.zb >= 0 && p.zb <= 255 && p.h > -h_limit &&
         p.h < h_limit && p.shift >= 0 && p.shift < 64 && p.qmin >= 0 && p.qmax <= 255 && p.qmin <= p.qmax && in_int32(p.zp);
}

}  // namespace

bool add_isa_supported(AddIsa isa) { return isa == AddIsa::Reference || avx512_add_cpu(); }

AddIsa add_isa_best() {
  static const AddIsa best = [] {
    if (reference_isa_forced()) return AddIsa::Reference;
    return add_isa_supported(AddIsa::Avx512) ? AddIsa::Avx512 : AddIsa::Reference;
  }();
  return best;
}

void u8_dyadic_add(AddIsa isa, const QAddParams& p, const uint8_t* a, const uint8_t* b, int64_t n, uint8_t* y) {
  if (!add_isa_supported(isa) || !fits_avx512(p)) isa = AddIsa::Reference;
  g_calls[static_cast<int>(isa)].fetch_add(1, std::memory_order_relaxed);
  if (isa == AddIsa::Avx512) u8_dyadic_add_16__avx512(p, a, b, n, y);
  else u8_dyadic_add__ref(p, a, b, n, y);
}

int64_t u8_dyadic_add_calls(AddIsa isa) { return g_calls[static_cast<int>(isa)].load(); }

}  // namespace dyad
