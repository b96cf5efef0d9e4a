// Float -> Q8_0 / Q6_K quantizers (src/quant/quantize): byte equality with independent peers (the
// `gguf` package's Q8_0 quantizer; a numpy transcription of ggml's Q6_K reference, see
// tests/python/quant_oracle.py), round-trip error bounds, the structure of Q6_K scales, bad inputs.
#include "quant/quantize.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "quant/dequantize.hpp"
#include "quant/tensor_type.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

std::vector<uint8_t> quantize(TensorType type, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(static_cast<size_t>(*row_nbytes(type, n)));
  quantize_row(type, x.data(), q.data(), n);
  return q;
}

std::vector<float> dequantize(TensorType type, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row(type, q.data(), y.data(), n);
  return y;
}

// Values that exercise the rules: normal values at many scales, all-zero blocks, one non-zero
// value, a negative largest magnitude, ties of the largest magnitude, values that land on .5
// after scaling, tiny values near the all-zero threshold, outliers.
std::vector<float> tricky_values(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> pick(0, 9);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t b = 0; b < n; b += 32) {
    const float spread = std::ldexp(1.0f, pick(rng) - 6);
    float* v = x.data() + b;
    for (int j = 0; j < 32; ++j) v[j] = normal(rng) * spread;
    switch ((b / 32) % 8) {
      case 1:
        for (int j = 0; j < 32; ++j) v[j] = 0.0f;
        break;
      case 2:
        for (int j = 0; j < 32; ++j) v[j] = j == 5 ? -0.75f : 0.0f;
        break;
      case 3:  // max 127 -> d = 1: multiples of 0.5 are exact ties
        for (int j = 0; j < 32; ++j) v[j] = static_cast<float>(pick(rng) - 5) * 0.5f;
        v[0] = 127.0f;
        break;
      case 4:
        v[3] = -8 * spread;
        v[30] = 8 * spread;
        break;
      case 5:
        for (int j = 0; j < 32; ++j) v[j] *= 1e-9f;
        break;
      case 6:
        v[17] = 50 * spread;
        break;
      default:
        break;
    }
  }
  return x;
}

std::filesystem::path venv_python() {
  return std::filesystem::path(BITNET_SOURCE_DIR) / ".venv" / "bin" / "python";
}

// The peer's bytes for x (see tests/python/quant_oracle.py); empty when no venv is set up.
std::vector<uint8_t> peer_quantize(const std::string& kind, const std::vector<float>& x) {
  if (!std::filesystem::exists(venv_python())) return {};
  const auto dir = test::scratch_dir();
  const auto in = dir / ("quant_in_" + kind + ".f32");
  const auto out = dir / ("quant_out_" + kind + ".bin");
  {
    std::ofstream f(in, std::ios::binary);
    f.write(reinterpret_cast<const char*>(x.data()),
            static_cast<std::streamsize>(x.size() * sizeof(float)));
  }
  const auto script = std::filesystem::path(BITNET_SOURCE_DIR) / "tests/python/quant_oracle.py";
  const std::string cmd = venv_python().string() + " " + script.string() + " " + kind + " " +
                          in.string() + " " + out.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void expect_same_bytes(const std::vector<uint8_t>& ours, const std::vector<uint8_t>& theirs,
                       int64_t block_bytes) {
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    ASSERT_EQ(ours[i], theirs[i]) << "byte " << i % block_bytes << " of block " << i / block_bytes;
  }
}

TEST(Quantize, Q8_0MatchesGgufPackage) {
  const auto x = tricky_values(32 * 256, 7);
  const auto theirs = peer_quantize("q8_0", x);
  if (theirs.empty()) GTEST_SKIP() << "no " << venv_python() << " (scripts/install-deps.sh)";
  expect_same_bytes(quantize(TensorType::Q8_0, x), theirs, 34);
}

TEST(Quantize, Q6_KMatchesNumpyTranscriptionOfGgml) {
  const auto x = tricky_values(256 * 48, 11);
  const auto theirs = peer_quantize("q6_k", x);
  if (theirs.empty()) GTEST_SKIP() << "no " << venv_python() << " (scripts/install-deps.sh)";
  expect_same_bytes(quantize(TensorType::Q6_K, x), theirs, 210);
}

TEST(Quantize, Q8_0RoundTripWithinHalfAStep) {
  const auto x = tricky_values(32 * 512, 3);
  const auto y = dequantize(TensorType::Q8_0, quantize(TensorType::Q8_0, x), 32 * 512);
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    // Half a step of d = amax / 127, plus d's fp16 rounding (relative 2^-11, or absolute 2^-25
    // for a subnormal d) over up to 127 steps.
    const float bound = amax / 127 * 0.5f + amax * 1e-3f + 127 * std::ldexp(1.0f, -25);
    for (size_t j = 0; j < 32; ++j) ASSERT_LE(std::fabs(y[b + j] - x[b + j]), bound) << b + j;
  }
}

TEST(Quantize, Q6_KRoundTripErrorAndScaleStructure) {
  const int64_t n = 256 * 64;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng);
  const auto q = quantize(TensorType::Q6_K, x);
  const auto y = dequantize(TensorType::Q6_K, q, n);
  double err2 = 0, x2 = 0;
  for (int64_t b = 0; b < n / 256; ++b) {
    const uint8_t* block = q.data() + b * 210;
    const auto* scales = reinterpret_cast<const int8_t*>(block + 192);
    // The largest sub-block scale is quantized to exactly -128 (iscale = -128 / max_scale).
    int min_scale = 127;
    for (int j = 0; j < 16; ++j) min_scale = std::min<int>(min_scale, scales[j]);
    EXPECT_EQ(min_scale, -128) << "block " << b;
    EXPECT_NE(fp16_to_fp32(static_cast<uint16_t>(block[208] | (block[209] << 8))), 0.0f);
    float amax = 0;
    for (int64_t j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[b * 256 + j]));
    for (int64_t j = 0; j < 256; ++j) {
      const float e = y[b * 256 + j] - x[b * 256 + j];
      // 6 bits over each sub-block's range, with scales quantized to 8 bits: well inside amax/32.
      ASSERT_LE(std::fabs(e), amax / 32) << "value " << b * 256 + j;
      err2 += static_cast<double>(e) * e;
      x2 += static_cast<double>(x[b * 256 + j]) * x[b * 256 + j];
    }
  }
  // Gaussian data: 6-bit quantization leaves about 1.5-2% relative RMS error.
  EXPECT_LT(std::sqrt(err2 / x2), 0.03);
}

TEST(Quantize, AllZeroBlocksAreZeroBytes) {
  const std::vector<float> zeros(512, 0.0f);
  for (TensorType type : {TensorType::Q8_0, TensorType::Q6_K}) {
    for (uint8_t byte : quantize(type, zeros)) ASSERT_EQ(byte, 0) << to_string(type);
  }
}

TEST(Quantize, RejectsPartialBlocksAndOtherTypes) {
  const std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> out(1024);
  for (int64_t n : {int64_t{33}, int64_t{31}, int64_t{-32}}) {
    try {
      quantize_row(TensorType::Q8_0, x.data(), out.data(), n);
      ADD_FAILURE() << n;
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::config);
      EXPECT_NE(std::string(e.what()).find("Q8_0"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(quantize_row(TensorType::Q6_K, x.data(), out.data(), 128), Error);
  EXPECT_THROW(quantize_row(TensorType::Q6_K, x.data(), out.data(), 288), Error);
  EXPECT_THROW(quantize_row(TensorType::F16, x.data(), out.data(), 32), Error);
  EXPECT_THROW(quantize_row(TensorType::TQ2_0, x.data(), out.data(), 256), Error);
  EXPECT_NO_THROW(quantize_row(TensorType::Q8_0, x.data(), out.data(), 0));
}

}  // namespace
}  // namespace bitnet
