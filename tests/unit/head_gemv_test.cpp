// The opt-in quantized output head (kernels/head_gemv): every ISA bit-identical to the scalar
// oracle on random shapes (ragged row counts, rows padded to whole Q8_0 groups, arbitrary block
// bytes), the oracle close to a float dot of the dequantized values, the layouts from every source
// type, bad inputs, and fixture models' logits with a quantized head close to the F16 head's.
#include "kernels/head_gemv.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "forward_test_support.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels/cpu_features.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "quant/dequantize.hpp"
#include "quant/quantize.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

using kernels::HeadActs;
using kernels::Isa;
using kernels::QuantizedHead;

// F16 weights around 0.05 with a few special rows: all zero, one outlier, a constant row.
std::vector<uint16_t> random_f16_matrix(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<uint16_t> w(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    uint16_t* row = w.data() + r * cols;
    for (int64_t j = 0; j < cols; ++j) row[j] = fp32_to_fp16(normal(rng));
    if (r % 11 == 3) std::fill(row, row + cols, uint16_t{0});
    if (r % 11 == 5) row[cols / 2] = fp32_to_fp16(-3.0f);
    if (r % 11 == 7) std::fill(row, row + cols, fp32_to_fp16(0.125f));
  }
  return w;
}

// Activations like a normed hidden state, with an all-zero stretch and outliers in some rows.
std::vector<float> random_hidden(int64_t cols, int variant, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(cols));
  for (auto& v : x) v = normal(rng);
  if (variant == 1) std::fill(x.begin(), x.begin() + std::min<int64_t>(cols, 256), 0.0f);
  if (variant == 2) {
    x[0] = 40.0f;
    x[static_cast<size_t>(cols - 1)] = -60.0f;
  }
  return x;
}

// Arbitrary block bytes of a file-native head (every level, int8 -128, scale -128) with small
// valid fp16 scales.
std::vector<uint8_t> random_blocks(TensorType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const int64_t ts = traits(type).type_size;
  const int64_t scale_at = type == TensorType::Q8_0 ? 0 : ts - 2;
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * *row_nbytes(type, cols)));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> scale(0.0f, 0.01f);
  for (size_t i = 0; i < bytes.size(); i += static_cast<size_t>(ts)) {
    for (int64_t j = 0; j < ts; ++j) bytes[i + j] = static_cast<uint8_t>(byte(rng));
    const uint16_t d = fp32_to_fp16(scale(rng));
    std::memcpy(&bytes[i + scale_at], &d, 2);
  }
  return bytes;
}

std::vector<float> oracle(const QuantizedHead& w, const HeadActs& a) {
  std::vector<float> y(static_cast<size_t>(w.rows));
  kernels::head_gemv_rows_ref(w, a, y.data(), 0, w.rows);
  return y;
}

void expect_bitwise_equal(const std::vector<float>& a, const std::vector<float>& b,
                          const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t ua, ub;
    std::memcpy(&ua, &a[i], 4);
    std::memcpy(&ub, &b[i], 4);
    ASSERT_EQ(ua, ub) << what << ": row " << i << ": " << a[i] << " vs " << b[i];
  }
}

// Every ISA this CPU has, on rows [0, rows) and on a ragged inner range, and head_gemv with 1-3
// threads, against the oracle.
void check_kernels(const QuantizedHead& w, const std::vector<float>& x, const std::string& what) {
  HeadActs acts;
  kernels::quantize_head_acts(w, x.data(), acts);
  const auto want = oracle(w, acts);
  for (Isa isa : kernels::built_isas()) {
    const kernels::HeadGemvRows run = kernels::head_gemv_rows_for(isa);
    if (run == nullptr || !kernels::isa_supported(isa)) continue;
    std::vector<float> y(static_cast<size_t>(w.rows), -1.0f);
    run(w, acts, y.data(), 0, w.rows);
    expect_bitwise_equal(y, want, what + " " + std::string(kernels::to_string(isa)));
    if (w.rows > 4) {
      std::vector<float> part(want);
      std::fill(part.begin() + 1, part.end() - 2, -1.0f);
      run(w, acts, part.data(), 1, w.rows - 2);
      expect_bitwise_equal(part, want, what + " rows 1.." + std::to_string(w.rows - 2));
    }
  }
  for (int threads : {1, 2, 3}) {
    std::vector<float> y(static_cast<size_t>(w.rows));
    HeadActs scratch;
    kernels::head_gemv(w, x.data(), scratch, y.data(), threads);
    expect_bitwise_equal(y, want, what + " head_gemv t" + std::to_string(threads));
  }
}

struct Shape {
  int64_t rows;
  int64_t cols;
};

TEST(HeadGemv, Q8_0KernelsMatchOracleBitForBit) {
  std::mt19937 rng(1);
  // cols: one block, partial groups (padding), whole groups, the 2B-4T width.
  for (const Shape s : {Shape{1, 32}, Shape{7, 96}, Shape{37, 512}, Shape{100, 544},
                        Shape{19, 2560}, Shape{64, 1056}}) {
    const auto f16 = random_f16_matrix(s.rows, s.cols, rng);
    const auto w = kernels::quantize_head(TensorType::Q8_0, TensorType::F16,
                                          reinterpret_cast<const uint8_t*>(f16.data()), s.cols * 2,
                                          s.rows, s.cols, 2);
    for (int variant = 0; variant < 3; ++variant) {
      check_kernels(w, random_hidden(s.cols, variant, rng),
                    "Q8_0 " + std::to_string(s.rows) + "x" + std::to_string(s.cols) + " v" +
                        std::to_string(variant));
    }
  }
}

TEST(HeadGemv, Q6_KKernelsMatchOracleBitForBit) {
  std::mt19937 rng(2);
  for (const Shape s : {Shape{1, 256}, Shape{13, 512}, Shape{37, 2560}, Shape{100, 768}}) {
    const auto f16 = random_f16_matrix(s.rows, s.cols, rng);
    const auto w = kernels::quantize_head(TensorType::Q6_K, TensorType::F16,
                                          reinterpret_cast<const uint8_t*>(f16.data()), s.cols * 2,
                                          s.rows, s.cols, 2);
    for (int variant = 0; variant < 3; ++variant) {
      check_kernels(w, random_hidden(s.cols, variant, rng),
                    "Q6_K " + std::to_string(s.rows) + "x" + std::to_string(s.cols) + " v" +
                        std::to_string(variant));
    }
  }
}

TEST(HeadGemv, KernelsMatchOracleOnArbitraryBlockBytes) {
  std::mt19937 rng(3);
  for (TensorType type : {TensorType::Q8_0, TensorType::Q6_K}) {
    const int64_t rows = 29, cols = 1280;
    const auto bytes = random_blocks(type, rows, cols, rng);
    const auto w =
        kernels::quantize_head(type, type, bytes.data(), *row_nbytes(type, cols), rows, cols, 1);
    check_kernels(w, random_hidden(cols, 2, rng), "arbitrary " + std::string(to_string(type)));
  }
}

// The oracle's integer-then-float sums agree with a double dot of the dequantized weights and
// activations (catches a wrong offset, scale or layout that the ISA comparison cannot).
TEST(HeadGemv, OracleMatchesDequantizedDot) {
  std::mt19937 rng(4);
  const int64_t rows = 50, cols = 768;
  const auto f16 = random_f16_matrix(rows, cols, rng);
  const auto x = random_hidden(cols, 2, rng);
  std::vector<float> w_row(static_cast<size_t>(cols)), a(static_cast<size_t>(cols));
  for (TensorType type : {TensorType::Q8_0, TensorType::Q6_K}) {
    const auto w =
        kernels::quantize_head(type, TensorType::F16, reinterpret_cast<const uint8_t*>(f16.data()),
                               cols * 2, rows, cols, 1);
    HeadActs acts;
    kernels::quantize_head_acts(w, x.data(), acts);
    const auto y = oracle(w, acts);
    // The activations as the kernels see them.
    if (type == TensorType::Q8_0) {
      std::vector<uint8_t> blocks(static_cast<size_t>(*row_nbytes(type, cols)));
      quantize_row(type, x.data(), blocks.data(), cols);
      dequantize_row(type, blocks.data(), a.data(), cols);
    } else {
      kernels::QuantizedActs q8k;
      kernels::quantize_acts_ref(kernels::ActQuant::Q8K, x.data(), 1, cols, q8k);
      for (int64_t j = 0; j < cols; ++j) a[j] = static_cast<float>(q8k.q[j]) * q8k.scale[j / 256];
    }
    std::vector<uint8_t> row_blocks(static_cast<size_t>(*row_nbytes(type, cols)));
    std::vector<float> f32_row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(TensorType::F16, f16.data() + r * cols, f32_row.data(), cols);
      quantize_row(type, f32_row.data(), row_blocks.data(), cols);
      dequantize_row(type, row_blocks.data(), w_row.data(), cols);
      double dot = 0, magnitude = 0;
      for (int64_t j = 0; j < cols; ++j) {
        dot += static_cast<double>(w_row[j]) * a[j];
        magnitude += std::fabs(static_cast<double>(w_row[j]) * a[j]);
      }
      EXPECT_NEAR(y[r], dot, 1e-5 * magnitude + 1e-7) << to_string(type) << " row " << r;
    }
  }
}

TEST(HeadGemv, LayoutsFromEverySourceAgree) {
  std::mt19937 rng(5);
  const int64_t rows = 9, cols = 544;
  const auto f16 = random_f16_matrix(rows, cols, rng);
  std::vector<float> f32(f16.size());
  for (size_t i = 0; i < f16.size(); ++i) f32[i] = fp16_to_fp32(f16[i]);
  std::vector<uint8_t> q8(static_cast<size_t>(rows * *row_nbytes(TensorType::Q8_0, cols)));
  const int64_t q8_row = *row_nbytes(TensorType::Q8_0, cols);
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(TensorType::Q8_0, f32.data() + r * cols, q8.data() + r * q8_row, cols);

  const auto from_f16 =
      kernels::quantize_head(TensorType::Q8_0, TensorType::F16,
                             reinterpret_cast<const uint8_t*>(f16.data()), cols * 2, rows, cols, 2);
  const auto from_f32 =
      kernels::quantize_head(TensorType::Q8_0, TensorType::F32,
                             reinterpret_cast<const uint8_t*>(f32.data()), cols * 4, rows, cols, 1);
  const auto from_q8 =
      kernels::quantize_head(TensorType::Q8_0, TensorType::Q8_0, q8.data(), q8_row, rows, cols, 3);
  ASSERT_EQ(from_f16.cols_padded, 1024);
  const auto values = static_cast<size_t>(rows * from_f16.cols_padded);
  const auto scales = static_cast<size_t>(rows * from_f16.cols_padded / 32) * 2;
  for (const QuantizedHead* other : {&from_f32, &from_q8}) {
    EXPECT_EQ(std::memcmp(from_f16.q8, other->q8, values), 0);
    EXPECT_EQ(std::memcmp(from_f16.q8_scales, other->q8_scales, scales), 0);
  }
  EXPECT_EQ(from_f16.nbytes(), rows * (1024 + 64));

  // Q6_K: rows quantized one by one; a head already in Q6_K is used in place.
  const auto q6 =
      kernels::quantize_head(TensorType::Q6_K, TensorType::F16,
                             reinterpret_cast<const uint8_t*>(f16.data()), cols * 2, rows, 512, 2);
  std::vector<uint8_t> row(210 * 2);
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row(TensorType::Q6_K, f32.data() + r * cols, row.data(), 512);
    ASSERT_EQ(std::memcmp(row.data(), q6.q6 + r * q6.q6_row_bytes, row.size()), 0) << r;
  }
  const auto in_place =
      kernels::quantize_head(TensorType::Q6_K, TensorType::Q6_K, q6.q6, 420, rows, 512, 1);
  EXPECT_EQ(in_place.q6, q6.q6);
  EXPECT_EQ(in_place.storage, nullptr);
}

TEST(HeadGemv, RejectsUnsupportedTypesAndShapes) {
  const std::vector<uint16_t> f16(4 * 512, 0x3C00);
  const auto* src = reinterpret_cast<const uint8_t*>(f16.data());
  const auto expect_config_error = [&](TensorType target, TensorType src_type, int64_t cols) {
    try {
      kernels::quantize_head(target, src_type, src, cols * 2, 2, cols, 1);
      ADD_FAILURE() << to_string(target) << " from " << to_string(src_type) << " cols " << cols;
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::config) << e.what();
    }
  };
  expect_config_error(TensorType::Q6_K, TensorType::F16, 128);  // not whole 256-blocks
  expect_config_error(TensorType::Q8_0, TensorType::F16, 48);
  expect_config_error(TensorType::F16, TensorType::F16, 512);
  expect_config_error(TensorType::Q4_0, TensorType::F16, 512);
  expect_config_error(TensorType::Q8_0, TensorType::TQ2_0, 512);
}

// ---- the forward pass with a quantized head

double mean_kl(const std::vector<float>& p_logits, std::span<const float> q_logits, int64_t n_vocab,
               double* top1_agreement) {
  const int64_t rows = static_cast<int64_t>(p_logits.size()) / n_vocab;
  double kl_sum = 0;
  int64_t agree = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = p_logits.data() + r * n_vocab;
    const float* q = q_logits.data() + r * n_vocab;
    const double pmax = *std::max_element(p, p + n_vocab);
    const double qmax = *std::max_element(q, q + n_vocab);
    double pz = 0, qz = 0;
    for (int64_t v = 0; v < n_vocab; ++v) {
      pz += std::exp(p[v] - pmax);
      qz += std::exp(q[v] - qmax);
    }
    double kl = 0;
    for (int64_t v = 0; v < n_vocab; ++v) {
      const double lp = p[v] - pmax - std::log(pz);
      const double lq = q[v] - qmax - std::log(qz);
      kl += std::exp(lp) * (lp - lq);
    }
    kl_sum += kl;
    agree += std::max_element(p, p + n_vocab) - p == std::max_element(q, q + n_vocab) - q;
  }
  *top1_agreement = static_cast<double>(agree) / static_cast<double>(rows);
  return kl_sum / static_cast<double>(rows);
}

// Every golden prompt of a fixture model, all positions, F16 head vs the quantized head. Bounds
// are loose (measured: KL ~ 4e-4 for Q8_0 and ~3e-3 for Q6_K on these random models) so that a
// broken kernel, not noise, fails them.
void check_model_head(const std::string& golden_dir, const std::string& model_prefix,
                      TensorType head, double max_kl, double min_top1) {
  auto cases = test::load_golden_cases(golden_dir, model_prefix);
  ASSERT_FALSE(cases.empty());
  LoadOptions quantized;
  quantized.head_type = head;
  const auto model_f16 = Model::load(cases[0].model);
  const auto model_q = Model::load(cases[0].model, quantized);
  ASSERT_FALSE(model_q->weights().output_quantized.empty());
  EXPECT_EQ(model_q->weights().output_quantized.type, head);
  double kl_sum = 0, top1_sum = 0;
  for (const auto& gc : cases) {
    ContextOptions opt;
    opt.n_ctx = static_cast<int32_t>(gc.tokens.size());
    Context f16(model_f16, opt), q(model_q, opt);
    f16.eval(gc.tokens, true);
    q.eval(gc.tokens, true);
    const std::vector<float> p(f16.logits().begin(), f16.logits().end());
    ASSERT_FALSE(std::equal(p.begin(), p.end(), q.logits().begin())) << "quantized head unused";
    double top1 = 0;
    kl_sum += mean_kl(p, q.logits(), gc.n_vocab, &top1);
    top1_sum += top1;
  }
  const double kl = kl_sum / static_cast<double>(cases.size());
  const double top1 = top1_sum / static_cast<double>(cases.size());
  ::testing::Test::RecordProperty("mean_kl", std::to_string(kl));
  ::testing::Test::RecordProperty("top1_agreement", std::to_string(top1));
  EXPECT_LT(kl, max_kl) << to_string(head);
  EXPECT_GE(top1, min_top1) << to_string(head);
}

TEST(HeadTypeForward, Q8_0HeadCloseToF16OnFixtures) {
  check_model_head("golden-upstream", "tiny-bitnet-tq2_0", TensorType::Q8_0, 0.005, 0.9);
  check_model_head("golden", "tiny-b158-i2s", TensorType::Q8_0, 0.005, 0.9);
}

TEST(HeadTypeForward, Q6_KHeadCloseToF16OnFixtures) {
  check_model_head("golden-upstream", "tiny-bitnet-tq2_0", TensorType::Q6_K, 0.03, 0.85);
}

TEST(HeadTypeForward, Q6_KNeedsWholeSuperBlocks) {
  LoadOptions options;
  options.head_type = TensorType::Q6_K;  // tiny-b158-i2s has n_embd 128
  try {
    Model::load(test::fixture("tiny-b158-i2s.gguf"), options);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::config);
    EXPECT_NE(std::string(e.what()).find("256"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bitnet
