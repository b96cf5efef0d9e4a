// f16_gemv: every ISA bit-identical to the scalar oracle (the documented summation order), and the
// oracle itself close to an exact dot product.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/fp16.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/f16_gemv.hpp"

namespace bitnet::kernels {
namespace {

std::vector<uint16_t> random_f16(size_t count, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> v(count);
  for (auto& h : v) h = fp32_to_fp16(normal(rng));
  return v;
}

std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(float));
  return out;
}

TEST(F16Gemv, OracleIsADotProduct) {
  std::mt19937 rng(3);
  for (int64_t k : {1, 63, 64, 100, 2560}) {
    const auto w = random_f16(k, rng), x = random_f16(k, rng);
    double exact = 0, magnitude = 0;
    for (int64_t i = 0; i < k; ++i) {
      const double p = static_cast<double>(fp16_to_fp32(w[i])) * fp16_to_fp32(x[i]);
      exact += p;
      magnitude += std::fabs(p);
    }
    EXPECT_NEAR(f16_dot_ref(w.data(), x.data(), k), exact, 1e-5 * magnitude + 1e-30) << "k=" << k;
  }
}

TEST(F16Gemv, EveryIsaBitIdenticalToOracle) {
  std::mt19937 rng(4);
  int tested = 0;
  for (Isa isa : built_isas()) {
    const F16GemvRows rows = f16_gemv_rows_for(isa);
    if (rows == nullptr) continue;  // scalar: the oracle itself
    if (!isa_supported(isa)) {
      std::cout << "[   NOTE   ] " << to_string(isa) << ": not supported by this CPU, not tested\n";
      continue;
    }
    ++tested;
    for (int64_t k : {1, 63, 64, 200, 2560}) {
      for (int64_t n : {1, 3, 4, 5, 17}) {
        const auto w = random_f16(n * k, rng), x = random_f16(k, rng);
        std::vector<float> want(n), got(n, -1.0f);
        f16_gemv_ref(w.data(), x.data(), n, k, want.data());
        // Rows [1, n) only, to check that a range writes exactly its rows.
        got[0] = want[0];
        rows(w.data(), x.data(), k, got.data(), 1, n);
        EXPECT_EQ(bits_of(want), bits_of(got)) << to_string(isa) << " n=" << n << " k=" << k;
      }
    }
  }
  // Every SIMD build has a baseline set (avx2 or neon) with a kernel of its own.
  if (built_isas().size() > 1 && isa_supported(built_isas()[1])) {
    EXPECT_GT(tested, 0);
  }
}

TEST(F16Gemv, EntryPointAnyThreadCount) {
  std::mt19937 rng(5);
  const int64_t n = 37, k = 320;
  const auto w = random_f16(n * k, rng), x = random_f16(k, rng);
  std::vector<float> want(n);
  f16_gemv_ref(w.data(), x.data(), n, k, want.data());
  for (int threads : {1, 2, 3}) {
    std::vector<float> got(n, -1.0f);
    f16_gemv(w.data(), x.data(), n, k, got.data(), threads);
    EXPECT_EQ(bits_of(want), bits_of(got)) << "threads=" << threads;
  }
}

}  // namespace
}  // namespace bitnet::kernels
