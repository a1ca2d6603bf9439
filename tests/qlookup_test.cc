// Byte table lookup: every variant against table[x[i]] computed here, on random tables, all 256
// index values and lengths around the 64-byte step (tails through the masked path), with
// sentinels proving nothing past the end is written; and proof that each variant ran.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "integer_kernels/forced_isa.h"
#include "integer_kernels/qlookup.h"

namespace dyad {
namespace {

TEST(Lookup, EveryVariantEqualsDirectIndexing) {
  std::mt19937 rng(static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()));
  for (int isa_index = 0; isa_index < 2; ++isa_index) {
    const LookupIsa isa = static_cast<LookupIsa>(isa_index);
    if (!lookup_isa_supported(isa)) continue;
    for (int64_t n : {0, 1, 5, 63, 64, 65, 127, 128, 129, 256, 1000, 4099}) {
      uint8_t table[256];
      for (auto& v : table) v = static_cast<uint8_t>(rng());
      std::vector<uint8_t> x(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = i < 256 ? static_cast<uint8_t>(255 - i) : static_cast<uint8_t>(rng());
      std::vector<uint8_t> y(static_cast<size_t>(n) + 64, 0xA5);
      const int64_t before = u8_lut256_calls(isa);
      u8_lut256(isa, table, x.data(), n, y.data());
      EXPECT_EQ(u8_lut256_calls(isa), before + 1);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[static_cast<size_t>(i)], table[x[static_cast<size_t>(i)]]) << "n=" << n << " i=" << i;
      for (size_t i = static_cast<size_t>(n); i < y.size(); ++i) ASSERT_EQ(y[i], 0xA5) << "written past the end, n=" << n;
    }
  }
}

TEST(Lookup, BestVariantHonoursForcing) {
  if (reference_isa_forced()) EXPECT_EQ(lookup_isa_best(), LookupIsa::Reference);
  else EXPECT_EQ(lookup_isa_best(), lookup_isa_supported(LookupIsa::Avx512Vbmi) ? LookupIsa::Avx512Vbmi : LookupIsa::Reference);
}

}  // namespace
}  // namespace dyad
