// The Q8_0 KV cache's products (kernels/kv_q8_0.hpp): every SIMD version bit-identical to the
// scalar definition, and the scalar definition close to the exact products of the dequantized
// blocks.
#include <gtest/gtest.h>

#include <algorithm>
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

// n_rows rows of n_blocks blocks each, rows `stride` blocks apart (a cache row holds every head).
std::vector<BlockQ8_0> quantized_rows(int64_t n_rows, int64_t n_blocks, int64_t stride, float scale,
                                      std::mt19937& rng) {
  std::vector<BlockQ8_0> rows(static_cast<size_t>(n_rows * stride));
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto q = quantized(random_values(32 * n_blocks, scale, rng));
    std::copy(q.begin(), q.end(), rows.begin() + r * stride);
  }
  return rows;
}

TEST(KernelsKvQ8, SimdEqualsScalar) {
  std::mt19937 rng(11);
  int tested = 0;
  for (Isa isa : built_isas()) {
    const KvQ8Kernels k = kv_q8_kernels_for(isa);
    if (k.scores == nullptr) continue;
    if (!isa_supported(isa)) {
      std::cout << "[   NOTE   ] " << to_string(isa) << ": not supported by this CPU, not tested\n";
      continue;
    }
    ++tested;
    for (int64_t n_blocks : {1, 2, 3, 4, 8}) {
      for (int64_t n_q : {1, 3, 4, 5}) {
        for (int64_t n_pos : {1, 7, 33}) {
          for (float scale : {1e-3f, 1.0f, 300.0f}) {
            const int64_t stride = n_blocks * 2 + 1;
            const auto kr = quantized_rows(n_pos, n_blocks, stride, scale, rng);
            const auto qr = quantized_rows(n_q, n_blocks, n_blocks, 2.0f, rng);
            const int64_t out_stride = n_pos + 3;
            std::vector<float> got(static_cast<size_t>(n_q * out_stride), -1.0f), want = got;
            k.scores(kr.data(), stride, n_pos, qr.data(), n_q, n_blocks, got.data(), out_stride);
            kv_q8_0_scores_ref(kr.data(), stride, n_pos, qr.data(), n_q, n_blocks, want.data(),
                               out_stride);
            for (size_t i = 0; i < got.size(); ++i) {
              ASSERT_EQ(bits(got[i]), bits(want[i]))
                  << to_string(isa) << " scores blocks=" << n_blocks << " heads=" << n_q
                  << " positions=" << n_pos << " scale " << scale << " element " << i;
            }
          }
        }
      }
    }
    for (int64_t n_blocks : {1, 2, 3, 4, 5}) {
      for (int64_t n_p : {1, 2, 3, 4, 5, 9}) {
        for (int64_t n_pos : {1, 17, 64}) {
          const int64_t v_stride = n_blocks + 2;
          const auto vr = quantized_rows(n_pos, n_blocks, v_stride, 1.0f, rng);
          const int64_t p_stride = n_pos + 5;
          auto p = random_values(n_p * p_stride, 0.3f, rng);
          const int64_t out_stride = 32 * n_blocks + 8;
          auto got = random_values(n_p * out_stride, 1.0f, rng);
          auto want = got;
          k.values(vr.data(), v_stride, n_pos, p.data(), n_p, p_stride, got.data(), out_stride,
                   32 * n_blocks);
          kv_q8_0_values_ref(vr.data(), v_stride, n_pos, p.data(), n_p, p_stride, want.data(),
                             out_stride, 32 * n_blocks);
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(bits(got[i]), bits(want[i]))
                << to_string(isa) << " values blocks=" << n_blocks << " rows=" << n_p
                << " positions=" << n_pos << " element " << i;
          }
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

double dequantized(const BlockQ8_0* row, int64_t i) {
  return static_cast<double>(fp16_to_fp32(row[i / 32].d)) * row[i / 32].qs[i % 32];
}

TEST(KernelsKvQ8, ScalarIsCloseToTheDequantizedProducts) {
  std::mt19937 rng(3);
  const int64_t n = 128;
  const auto k = quantized(random_values(n, 1.0f, rng));
  const auto q = quantized(random_values(n, 1.0f, rng));
  double exact = 0;
  for (int64_t i = 0; i < n; ++i) exact += dequantized(k.data(), i) * dequantized(q.data(), i);
  float score = 0;
  kv_q8_0_scores_ref(k.data(), n / 32, 1, q.data(), 1, n / 32, &score, 1);
  EXPECT_NEAR(score, exact, 1e-4 * std::abs(exact) + 1e-6);

  // Two V rows weighted 0.25 and 0.5 on top of 1.0.
  std::vector<BlockQ8_0> v = quantized(random_values(2 * n, 1.0f, rng));
  const float p[2] = {0.25f, 0.5f};
  std::vector<float> got(n, 1.0f);
  kv_q8_0_values_ref(v.data(), n / 32, 2, p, 1, 2, got.data(), n, n);
  for (int64_t i = 0; i < n; ++i) {
    const double want =
        1.0 + 0.25 * dequantized(v.data(), i) + 0.5 * dequantized(v.data() + n / 32, i);
    EXPECT_NEAR(got[i], want, 1e-6) << i;
  }
  // An all-zero block has scale 0 and contributes exactly nothing.
  const auto zero = quantized(std::vector<float>(32, 0.0f));
  EXPECT_EQ(zero[0].d, 0);
  kv_q8_0_scores_ref(zero.data(), 1, 1, q.data(), 1, 1, &score, 1);
  EXPECT_EQ(score, 0.0f);
}

}  // namespace
}  // namespace bitnet::kernels
