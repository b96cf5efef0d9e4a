// The Q8_0 KV cache's products (kernels/kv_q8_0.hpp): every SIMD version bit-identical to the
// scalar definition, and the scalar definition close to the exact products of the dequantized
// blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "common/fp16.hpp"
#include "kernels/kv_q8_0.hpp"
#include "quant/quantize.hpp"

namespace bitnet::kernels {
namespace {

uint32_t bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

std::vector<BlockQ8_0> quantized(const std::vector<float>& x) {
  std::vector<BlockQ8_0> q(x.size() / 32);
  quantize_row(TensorType::Q8_0, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

std::vector<float> random_values(int64_t n, float scale, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = normal(rng);
  return v;
}

TEST(KernelsKvQ8, SimdEqualsScalar) {
  std::mt19937 rng(11);
  int tested = 0;
  for (Isa isa : built_isas()) {
    const KvQ8Kernels k = kv_q8_kernels_for(isa);
    if (k.dot == nullptr) continue;
    if (!isa_supported(isa)) {
      std::cout << "[  SKIPPED ] " << to_string(isa) << ": not supported by this CPU\n";
      continue;
    }
    ++tested;
    for (int64_t n : {32, 64, 96, 128, 256, 640}) {
      for (float scale : {1e-3f, 1.0f, 300.0f}) {
        const auto kq = quantized(random_values(n, scale, rng));
        const auto x = random_values(n, 2.0f, rng);
        EXPECT_EQ(bits(k.dot(kq.data(), x.data(), n)),
                  bits(kv_q8_0_dot_ref(kq.data(), x.data(), n)))
            << to_string(isa) << " dot n=" << n << " scale " << scale;
        auto acc_simd = random_values(n, 1.0f, rng);
        auto acc_ref = acc_simd;
        for (float w : {0.25f, 1e-6f, 0.7f}) {
          k.axpy(kq.data(), w, acc_simd.data(), n);
          kv_q8_0_axpy_ref(kq.data(), w, acc_ref.data(), n);
        }
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(bits(acc_simd[i]), bits(acc_ref[i]))
              << to_string(isa) << " axpy n=" << n << " element " << i;
        }
      }
    }
  }
#if defined(__x86_64__)
  if (isa_supported(Isa::avx2)) {
    EXPECT_GT(tested, 0) << "avx2 and avx512 have versions";
  }
#elif defined(__aarch64__)
  EXPECT_GT(tested, 0) << "neon is the aarch64 baseline";
#endif
}

TEST(KernelsKvQ8, ScalarIsCloseToTheDequantizedProducts) {
  std::mt19937 rng(3);
  const int64_t n = 128;
  const auto kq = quantized(random_values(n, 1.0f, rng));
  const auto x = random_values(n, 1.0f, rng);
  double exact = 0;
  std::vector<double> acc(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const double v = fp16_to_fp32(kq[i / 32].d) * kq[i / 32].qs[i % 32];
    exact += v * x[i];
    acc[i] = 0.5 * v;
  }
  EXPECT_NEAR(kv_q8_0_dot_ref(kq.data(), x.data(), n), exact, 1e-4);
  std::vector<float> got(n, 0.0f);
  kv_q8_0_axpy_ref(kq.data(), 0.5f, got.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(got[i], acc[i], 1e-6) << i;
  // An all-zero block has scale 0 and adds exactly nothing.
  const auto zero = quantized(std::vector<float>(32, 0.0f));
  EXPECT_EQ(zero[0].d, 0);
  EXPECT_EQ(kv_q8_0_dot_ref(zero.data(), x.data(), 32), 0.0f);
}

}  // namespace
}  // namespace bitnet::kernels
