// Tensor types: byte sizes, the bit layouts of the ternary types (known answers written from the
// reference formats, independently of src/quant), round trips, and the reference fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "gguf/gguf.hpp"
#include "quant/dequantize.hpp"
#include "quant/tensor_type.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

// Random exact ternary values times one fp16-exact scale, as BitNet weights are.
std::vector<float> random_ternary(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = static_cast<float>(static_cast<int>(rng() % 3) - 1) * scale;
  return x;
}

std::vector<uint8_t> quantize(TensorType type, const std::vector<float>& x, int64_t n_per_row) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(static_cast<size_t>(*tensor_nbytes(type, n, n_per_row)));
  quantize_ternary(type, x.data(), q.data(), n, n_per_row);
  return q;
}

std::vector<float> dequantize(TensorType type, const void* data, int64_t n, int64_t n_per_row) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_tensor(type, data, y.data(), n, n_per_row);
  return y;
}

TEST(QuantTypes, ByteSizes) {
  EXPECT_EQ(tensor_nbytes(TensorType::F32, 2560 * 3, 2560), 2560 * 3 * 4);
  EXPECT_EQ(tensor_nbytes(TensorType::F16, 2560 * 3, 2560), 2560 * 3 * 2);
  EXPECT_EQ(tensor_nbytes(TensorType::BF16, 64, 64), 128);
  EXPECT_EQ(tensor_nbytes(TensorType::Q8_0, 2560 * 2, 2560), 2 * 80 * 34);
  EXPECT_EQ(tensor_nbytes(TensorType::Q6_K, 2560 * 2, 2560), 2 * 10 * 210);
  EXPECT_EQ(tensor_nbytes(TensorType::TQ1_0, 2560 * 6912, 2560), 6912 * 10 * 54);
  EXPECT_EQ(tensor_nbytes(TensorType::TQ2_0, 2560 * 6912, 2560), 6912 * 10 * 66);
  EXPECT_EQ(tensor_nbytes(TensorType::I2_S, 2560 * 6912, 2560), 2560 * 6912 / 4 + 32);
  EXPECT_EQ(row_nbytes(TensorType::I2_S, 2560), 640);
  EXPECT_FALSE(tensor_nbytes(TensorType::TQ2_0, 128 * 4, 128));  // row not a multiple of 256
  EXPECT_FALSE(tensor_nbytes(TensorType::I2_S, 64 * 4, 64));     // row not a multiple of 128
  EXPECT_FALSE(tensor_nbytes(TensorType::Q8_0, 33, 33));
  EXPECT_FALSE(tensor_nbytes(TensorType::F32, 10, 3));  // not whole rows
  EXPECT_FALSE(tensor_nbytes(TensorType::F32, int64_t{1} << 62, int64_t{1} << 62));  // overflows
  EXPECT_EQ(tensor_type_from_id(36), TensorType::I2_S);
  EXPECT_FALSE(tensor_type_from_id(33));
  EXPECT_EQ(tensor_type_from_name("tq1_0"), TensorType::TQ1_0);
  EXPECT_EQ(to_string(TensorType::Q6_K), "Q6_K");
}

// TQ2_0 (ggml block_tq2_0): value 128*h + 32*l + m of a block is 2-bit field l of byte 32*h + m,
// code c means c - 1; then the fp16 d.
TEST(QuantTypes, Tq2LayoutKnownAnswer) {
  std::vector<int> trit(256);
  for (int i = 0; i < 256; ++i) trit[i] = (i * 7 + i / 5) % 3 - 1;
  uint8_t block[66] = {};
  for (int i = 0; i < 256; ++i) {
    const int h = i / 128, l = (i % 128) / 32, m = i % 32;
    block[32 * h + m] |= static_cast<uint8_t>((trit[i] + 1) << (2 * l));
  }
  const uint16_t d = fp32_to_fp16(0.75f);
  std::memcpy(block + 64, &d, 2);
  const auto y = dequantize(TensorType::TQ2_0, block, 256, 256);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(y[i], 0.75f * static_cast<float>(trit[i])) << i;
  // Code 3 is not produced by the quantizer but reads as +2, as in ggml and gguf-py.
  block[0] = 3;
  EXPECT_EQ(dequantize(TensorType::TQ2_0, block, 256, 256)[0], 1.5f);
}

// TQ1_0 (ggml block_tq1_0): qs[0..32) hold values m + 32*n (5 trits, n = 0 most significant),
// qs[32..48) values 160 + m + 16*n, qh[0..4) values 240 + m + 4*n (4 trits, then one zero trit);
// each byte is ceil(v * 256 / 243) of the base-3 number v; then the fp16 d.
TEST(QuantTypes, Tq1LayoutKnownAnswer) {
  std::vector<int> trit(256);
  for (int i = 0; i < 256; ++i) trit[i] = (i * 5 + i / 3) % 3 - 1;
  uint8_t block[54] = {};
  const auto pack = [&](std::initializer_list<int> idx, int slots) {
    int v = 0;
    for (int i : idx) v = v * 3 + trit[i] + 1;
    for (int s = static_cast<int>(idx.size()); s < slots; ++s) v *= 3;
    return static_cast<uint8_t>((v * 256 + 242) / 243);
  };
  for (int m = 0; m < 32; ++m) block[m] = pack({m, m + 32, m + 64, m + 96, m + 128}, 5);
  for (int m = 0; m < 16; ++m)
    block[32 + m] = pack({160 + m, 176 + m, 192 + m, 208 + m, 224 + m}, 5);
  for (int m = 0; m < 4; ++m) block[48 + m] = pack({240 + m, 244 + m, 248 + m, 252 + m}, 5);
  const uint16_t d = fp32_to_fp16(-0.5f);
  std::memcpy(block + 52, &d, 2);
  const auto y = dequantize(TensorType::TQ1_0, block, 256, 256);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(y[i], -0.5f * static_cast<float>(trit[i])) << i;
  int8_t trits[256];
  tq_unpack_block(TensorType::TQ1_0, block, trits);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(trits[i], trit[i]) << i;
  EXPECT_EQ(tq_block_scale(TensorType::TQ1_0, block), -0.5f);
}

// I2_S (bitnet.cpp x86): value j of a 128-block is in byte j % 32 at shift 6 - 2*(j / 32); codes
// 0, 1, 2 = -1, 0, +1; the float32 scale sits at byte n/4.
TEST(QuantTypes, I2sLayoutKnownAnswer) {
  const int64_t n = 256;
  std::vector<uint8_t> data(n / 4 + 32, 0);
  std::vector<int> trit(n);
  for (int64_t j = 0; j < n; ++j) {
    trit[j] = static_cast<int>((j * 11 + j / 7) % 3) - 1;
    const int64_t blk = j / 128, k = j % 128;
    data[blk * 32 + k % 32] |= static_cast<uint8_t>((trit[j] + 1) << (6 - 2 * (k / 32)));
  }
  const float scale = 0.0625f;
  std::memcpy(data.data() + n / 4, &scale, 4);
  EXPECT_EQ(i2s_scale(data.data(), n), scale);
  const auto y = dequantize(TensorType::I2_S, data.data(), n, 128);
  for (int64_t j = 0; j < n; ++j) {
    ASSERT_EQ(i2s_code(data.data(), j), trit[j] + 1) << j;
    ASSERT_EQ(y[j], scale * static_cast<float>(trit[j])) << j;
  }
}

TEST(QuantTypes, I2sQuantizeFollowsBitnetCppSignRule) {
  std::vector<float> x(128, 0.0f);
  x[0] = 0.3f;
  x[1] = -0.001f;  // any magnitude >= 1e-6 keeps its sign
  x[2] = 5e-7f;    // below 1e-6: zero
  x[3] = -2.0f;
  const auto q = quantize(TensorType::I2_S, x, 128);
  EXPECT_EQ(i2s_scale(q.data(), 128), 2.0f);
  EXPECT_EQ(i2s_code(q.data(), 0), 2);
  EXPECT_EQ(i2s_code(q.data(), 1), 0);
  EXPECT_EQ(i2s_code(q.data(), 2), 1);
  EXPECT_EQ(i2s_code(q.data(), 3), 0);
  EXPECT_EQ(i2s_code(q.data(), 4), 1);
}

TEST(QuantTypes, TqQuantizeRoundsToNearestAsGgml) {
  std::vector<float> x(256, 0.0f);
  x[0] = 1.0f;   // d = 1
  x[1] = 0.49f;  // rounds to 0
  x[2] = -0.5f;  // lround: half away from zero -> -1
  x[255] = 0.51f;
  for (auto type : {TensorType::TQ1_0, TensorType::TQ2_0}) {
    const auto y = dequantize(type, quantize(type, x, 256).data(), 256, 256);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], 0.0f);
    EXPECT_EQ(y[2], -1.0f);
    EXPECT_EQ(y[255], 1.0f);
    EXPECT_EQ(y[3], 0.0f);
  }
}

TEST(QuantTypes, TernaryRoundTripsExactly) {
  const int64_t k = 512, rows = 6;
  const auto x = random_ternary(k * rows, 0.0419921875f /* exact in fp16 */, 7);
  for (auto type : {TensorType::TQ1_0, TensorType::TQ2_0, TensorType::I2_S}) {
    SCOPED_TRACE(std::string(to_string(type)));
    const auto q = quantize(type, x, k);
    const auto y = dequantize(type, q.data(), k * rows, k);
    EXPECT_EQ(y, x);                     // dequantize(quantize(x)) == x
    EXPECT_EQ(quantize(type, y, k), q);  // quantize(dequantize(q)) == q, bit for bit
  }
}

TEST(QuantTypes, TqRowsQuantizeIndependently) {
  const int64_t k = 256, rows = 4;
  const auto x = random_ternary(k * rows, 0.5f, 3);
  for (auto type : {TensorType::TQ1_0, TensorType::TQ2_0}) {
    const auto whole = quantize(type, x, k);
    const auto row_bytes = *row_nbytes(type, k);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> row(x.begin() + r * k, x.begin() + (r + 1) * k);
      const auto part = quantize(type, row, k);
      EXPECT_EQ(0, std::memcmp(part.data(), whole.data() + r * row_bytes,
                               static_cast<size_t>(row_bytes)));
    }
  }
}

TEST(QuantTypes, Q8_0KnownAnswer) {
  uint8_t block[34];
  const uint16_t d = fp32_to_fp16(0.5f);
  std::memcpy(block, &d, 2);
  for (int j = 0; j < 32; ++j)
    block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128));
  float y[32];
  dequantize_row(TensorType::Q8_0, block, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * static_cast<float>(j * 8 - 128)) << j;
}

// Q6_K: with all quant bits zero every value is d * scale[j / 16] * (0 - 32).
TEST(QuantTypes, Q6KScalesCoverSixteenValuesEach) {
  uint8_t block[210] = {};
  for (int i = 0; i < 16; ++i) block[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(i - 8));
  const uint16_t d = fp32_to_fp16(0.25f);
  std::memcpy(block + 208, &d, 2);
  float y[256];
  dequantize_row(TensorType::Q6_K, block, y, 256);
  for (int j = 0; j < 256; ++j)
    ASSERT_EQ(y[j], 0.25f * static_cast<float>(j / 16 - 8) * -32.0f) << j;
  // The high bits of value 32*q + l (l < 32) come from qh[l] (first half) at shift 2q.
  block[128 + 5] = 0x3 << 4;  // value 64 + 5 gets high bits 3: q = 48 - 32 = 16
  dequantize_row(TensorType::Q6_K, block, y, 256);
  EXPECT_EQ(y[69], 0.25f * static_cast<float>(69 / 16 - 8) * 16.0f);
}

TEST(QuantTypes, HalfAndBfloat16) {
  const uint16_t one_f16 = 0x3C00, one_bf16 = 0x3F80, neg_two_bf16 = 0xC000;
  const uint16_t f16[2] = {one_f16, 0x0001};  // 1 and the smallest subnormal
  float y[2];
  dequantize_row(TensorType::F16, f16, y, 2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], std::ldexp(1.0f, -24));
  const uint16_t bf16[2] = {one_bf16, neg_two_bf16};
  dequantize_row(TensorType::BF16, bf16, y, 2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_THROW(dequantize_row(TensorType::Q4_K, f16, y, 256), Error);
}

// Every I2_S tensor bitnet.cpp wrote dequantizes to {-s, 0, +s} with its stored scale, and
// re-quantizing gives the same codes and scale.
TEST(QuantTypes, FixtureI2sTensorsAreExactTernaryTimesScale) {
  const auto file = gguf::GgufFile::open(test::fixture("tiny-b158-i2s.gguf"));
  int checked = 0;
  for (const auto& t : file.tensors()) {
    if (t.type != TensorType::I2_S) continue;
    const float s = i2s_scale(t.data, t.n_elements);
    ASSERT_TRUE(std::isfinite(s) && s > 0) << t.name;
    EXPECT_EQ(round_to_fp16(s), s) << t.name;
    const auto y = dequantize(TensorType::I2_S, t.data, t.n_elements, t.ne[0]);
    std::set<float> values(y.begin(), y.end());
    EXPECT_EQ(values, (std::set<float>{-s, 0.0f, s})) << t.name;
    const auto q = quantize(TensorType::I2_S, y, t.ne[0]);
    EXPECT_EQ(0, std::memcmp(q.data(), t.data, static_cast<size_t>(t.n_elements / 4 + 4)))
        << t.name;
    ++checked;
  }
  EXPECT_EQ(checked, 28);
}

// llama.cpp quantized the same weights to TQ1_0 and TQ2_0: both must dequantize identically, to
// ternary x block scale, and re-quantize to the same bytes.
TEST(QuantTypes, FixtureTq1AndTq2HoldIdenticalValues) {
  const auto tq1 = gguf::GgufFile::open(test::fixture("tiny-bitnet-tq1_0.gguf"));
  const auto tq2 = gguf::GgufFile::open(test::fixture("tiny-bitnet-tq2_0.gguf"));
  int checked = 0;
  for (const auto& a : tq1.tensors()) {
    if (a.type != TensorType::TQ1_0) continue;
    const auto& b = tq2.tensor(a.name);
    ASSERT_EQ(b.type, TensorType::TQ2_0);
    ASSERT_EQ(a.ne, b.ne);
    const auto ya = dequantize(a.type, a.data, a.n_elements, a.ne[0]);
    const auto yb = dequantize(b.type, b.data, b.n_elements, b.ne[0]);
    EXPECT_EQ(ya, yb) << a.name;
    for (int64_t blk = 0; blk < a.n_elements / 256; ++blk) {
      const float d = tq_block_scale(TensorType::TQ1_0, a.data + blk * 54);
      for (int64_t j = blk * 256; j < (blk + 1) * 256; ++j) {
        ASSERT_TRUE(ya[j] == 0 || ya[j] == d || ya[j] == -d) << a.name << " " << j;
      }
    }
    EXPECT_EQ(
        0, std::memcmp(quantize(a.type, ya, a.ne[0]).data(), a.data, static_cast<size_t>(a.nbytes)))
        << a.name;
    EXPECT_EQ(
        0, std::memcmp(quantize(b.type, yb, b.ne[0]).data(), b.data, static_cast<size_t>(b.nbytes)))
        << b.name;
    ++checked;
  }
  EXPECT_EQ(checked, 28);
}

}  // namespace
}  // namespace bitnet
