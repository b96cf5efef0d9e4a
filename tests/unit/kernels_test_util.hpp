// Random ternary weights and activations for the kernel tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/bitlinear.hpp"
#include "quant/dequantize.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet::test {

// Owns the bytes of an n x k ternary tensor in its file format.
struct TernaryMatrix {
  std::vector<uint8_t> bytes;
  kernels::TernaryWeights w;
};

// Ternary values with random per-block magnitudes, quantized by the oracle quantizer. With
// scrambled_codes the packed codes are then overwritten with random bytes (every code pattern,
// TQ2_0's unused code 3 and TQ1_0 bytes past 242 included) while block scales stay valid.
inline TernaryMatrix random_ternary(TensorType type, int64_t n, int64_t k, std::mt19937& rng,
                                    bool scrambled_codes = false) {
  std::vector<float> values(static_cast<size_t>(n * k));
  std::uniform_int_distribution<int> trit(-1, 1);
  std::uniform_real_distribution<float> mag(0.01f, 2.0f);
  for (int64_t b = 0; b < n * k; b += 256) {
    const float m = mag(rng);
    for (int64_t j = b; j < std::min(n * k, b + 256); ++j)
      values[j] = static_cast<float>(trit(rng)) * m;
  }
  TernaryMatrix out;
  out.bytes.resize(static_cast<size_t>(*tensor_nbytes(type, n * k, k)));
  quantize_ternary(type, values.data(), out.bytes.data(), n * k, k);
  if (scrambled_codes) {
    std::uniform_int_distribution<int> byte(0, 255);
    if (type == TensorType::I2_S) {
      for (int64_t i = 0; i < n * k / 4; ++i) out.bytes[i] = static_cast<uint8_t>(byte(rng));
    } else {
      const int64_t ts = traits(type).type_size;
      for (size_t i = 0; i < out.bytes.size(); ++i) {
        if (static_cast<int64_t>(i % ts) < ts - 2) out.bytes[i] = static_cast<uint8_t>(byte(rng));
      }
    }
  }
  out.w = kernels::TernaryWeights::from_tensor(type, out.bytes.data(), k, n);
  return out;
}

// Activations with a spread of magnitudes, exact ties of the largest magnitude with both signs (the
// Q8K max rule), all-zero 256-blocks, and values that land on .5 after scaling (rounding rule).
inline std::vector<float> random_activations(int64_t n_tokens, int64_t k, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(n_tokens * k));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 15);
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* row = x.data() + t * k;
    const float spread = std::ldexp(1.0f, pick(rng) - 8);
    for (int64_t j = 0; j < k; ++j) row[j] = normal(rng) * spread;
    switch (t % 4) {
      case 1:  // ties of the largest magnitude, negative first
        for (int64_t j = 0; j + 200 < k; j += 256) {
          row[j + 7] = -50.0f * spread;
          row[j + 9] = 50.0f * spread;
          row[j + 200] = 50.0f * spread;
        }
        break;
      case 2:  // an all-zero block, and values that scale to exact halves
        for (int64_t j = 0; j < std::min<int64_t>(k, 256); ++j) row[j] = 0.0f;
        for (int64_t j = 256; j < k; ++j) row[j] = static_cast<float>(pick(rng) - 8) * 0.5f;
        if (k > 256) row[k - 1] = 127.0f;  // makes the absmax scale exactly 1 for the whole row
        break;
      default:
        break;
    }
  }
  return x;
}

}  // namespace bitnet::test
