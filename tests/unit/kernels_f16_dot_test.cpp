// The SIMD (AVX-512, AVX2, NEON) F16 dot products of the forward pass (attention over the F16
// cache, batched head) against their scalar definitions, on lengths with every tail.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "common/fp16.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet::kernels {
namespace {

struct F16Case {
  std::vector<uint16_t> w;
  std::vector<float> x;      // any float
  std::vector<float> x_f16;  // exact in F16
};

F16Case random_case(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  F16Case c;
  for (int64_t i = 0; i < n; ++i) {
    c.w.push_back(fp32_to_fp16(normal(rng)));
    c.x.push_back(normal(rng) * 3.0f);
    c.x_f16.push_back(round_to_fp16(c.x.back()));
  }
  return c;
}

// tinyBLAS's lanes with a real fma: the reference the AVX-512 version must equal.
float lanes16_fma(const uint16_t* w, const float* x, int64_t n) {
  float acc[16] = {};
  for (int64_t i = 0; i < n; ++i) acc[i % 16] = std::fma(fp16_to_fp32(w[i]), x[i], acc[i % 16]);
  return reduce_add16(acc);
}

TEST(KernelsF16Dot, SimdEqualsScalarOnEveryTail) {
  std::mt19937 rng(7);
  const auto bits = [](float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u;
  };
  int tested = 0;
  for (Isa isa : built_isas()) {
    const F16DotKernels k = f16_dot_kernels(isa);
    if (k.vecdot == nullptr) continue;
    if (!isa_supported(isa)) {
      std::cout << "[   NOTE   ] " << to_string(isa) << ": not supported by this CPU, not tested\n";
      continue;
    }
    ++tested;
    for (int64_t n : {1, 15, 16, 17, 63, 64, 65, 128, 200, 2560, 2561}) {
      const F16Case c = random_case(n, rng);
      EXPECT_EQ(bits(k.vecdot(c.w.data(), c.x_f16.data(), n)),
                bits(dot_f16_vecdot_scalar(c.w.data(), c.x_f16.data(), n)))
          << to_string(isa) << " vecdot n=" << n;
      EXPECT_EQ(bits(k.lanes16(c.w.data(), c.x_f16.data(), n)),
                bits(dot_f16_lanes16_exact_scalar(c.w.data(), c.x_f16.data(), n)))
          << to_string(isa) << " lanes16 exact n=" << n;
      EXPECT_EQ(bits(k.lanes16(c.w.data(), c.x.data(), n)),
                bits(lanes16_fma(c.w.data(), c.x.data(), n)))
          << to_string(isa) << " lanes16 n=" << n;
      // The scalar emulation of the fma agrees but for rare double roundings: within an ulp or so.
      EXPECT_NEAR(dot_f16_lanes16_scalar(c.w.data(), c.x.data(), n),
                  lanes16_fma(c.w.data(), c.x.data(), n), 1e-4 * std::sqrt(static_cast<double>(n)));
    }
    // Products that underflow to -0 leave every lane at -0; the lanes past n must stay so (a
    // padded fma would make them +0 and the sum +0).
    const int64_t n = 17;
    const std::vector<uint16_t> w(n, 0x8001);  // -2^-24, the smallest F16 subnormal
    const std::vector<float> x(n, 1e-40f);
    EXPECT_EQ(bits(k.lanes16(w.data(), x.data(), n)), bits(lanes16_fma(w.data(), x.data(), n)))
        << to_string(isa) << " lanes16 of -0 products";
    EXPECT_EQ(bits(lanes16_fma(w.data(), x.data(), n)), bits(-0.0f));
  }
#if defined(__aarch64__)
  EXPECT_GT(tested, 0) << "neon is the aarch64 baseline";
#else
  if (isa_supported(Isa::avx2)) {
    EXPECT_GT(tested, 0) << "avx2 has its own F16 dots";
  }
#endif
}

// The 16-row forms (one transposing reduction for up to 16 dots) against the one-row SIMD dots,
// bit for bit: every row count 1..16 (rows past it must stay unwritten), lengths with every tail.
TEST(KernelsF16Dot, RowsEqualOneDotPerRow) {
  std::mt19937 rng(11);
  int tested = 0;
  for (Isa isa : built_isas()) {
    const F16DotKernels k = f16_dot_kernels(isa);
    if (k.vecdot_rows == nullptr) continue;
    if (!isa_supported(isa)) {
      std::cout << "[   NOTE   ] " << to_string(isa) << ": not supported by this CPU, not tested\n";
      continue;
    }
    ++tested;
    for (int64_t n : {1, 16, 17, 64, 96, 128, 200, 1056}) {
      const int64_t stride = n + 24;  // rows apart, as K rows in the cache
      std::vector<uint16_t> w;
      std::vector<float> x, x_f16;
      for (int r = 0; r < 16; ++r) {
        const F16Case c = random_case(stride, rng);
        w.insert(w.end(), c.w.begin(), c.w.end());
        if (r == 0) {
          x = c.x;
          x_f16 = c.x_f16;
        }
      }
      for (int rows = 1; rows <= 16; ++rows) {
        std::vector<float> got(17, -7.0f);
        k.vecdot_rows(w.data(), stride, rows, x_f16.data(), n, got.data());
        for (int r = 0; r < rows; ++r) {
          ASSERT_EQ(std::bit_cast<uint32_t>(got[r]),
                    std::bit_cast<uint32_t>(k.vecdot(w.data() + r * stride, x_f16.data(), n)))
              << to_string(isa) << " vecdot rows=" << rows << " r=" << r << " n=" << n;
        }
        ASSERT_EQ(got[rows], -7.0f) << "row " << rows << " written";
        std::fill(got.begin(), got.end(), -7.0f);
        k.lanes16_rows(w.data(), stride, rows, x.data(), n, got.data());
        for (int r = 0; r < rows; ++r) {
          ASSERT_EQ(std::bit_cast<uint32_t>(got[r]),
                    std::bit_cast<uint32_t>(k.lanes16(w.data() + r * stride, x.data(), n)))
              << to_string(isa) << " lanes16 rows=" << rows << " r=" << r << " n=" << n;
        }
        ASSERT_EQ(got[rows], -7.0f) << "row " << rows << " written";
      }
    }
  }
  if (isa_supported(Isa::avx512)) {
    EXPECT_GT(tested, 0) << "avx512 has the 16-row dots";
  }
}

}  // namespace
}  // namespace bitnet::kernels
