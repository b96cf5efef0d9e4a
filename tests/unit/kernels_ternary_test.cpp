// Every SIMD kernel set against the scalar oracle: activation quantization and the ternary matmul
// must give identical integers and bit-identical floats, on random shapes with ragged edges.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/ternary_kernels.hpp"
#include "kernels_test_util.hpp"
#include "quant/dequantize.hpp"

namespace bitnet::kernels {
namespace {

using test::random_activations;
using test::random_ternary;

std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(float));
  return out;
}

class KernelSetTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << to_string(GetParam())
                   << "; its kernels are not tested here";
    }
  }
  const KernelSet& kernels() const { return kernel_set(GetParam()); }
};

void expect_same_acts(const QuantizedActs& want, const QuantizedActs& got,
                      const std::string& where) {
  EXPECT_EQ(want.k, got.k) << where;
  EXPECT_EQ(want.n_tokens, got.n_tokens) << where;
  EXPECT_EQ(want.q, got.q) << where;
  EXPECT_EQ(bits_of(want.scale), bits_of(got.scale)) << where;
  if (want.rule == ActQuant::PerRowAbsmax) {
    EXPECT_EQ(want.qsum, got.qsum) << where;
  } else {
    EXPECT_EQ(want.bsum, got.bsum) << where;
  }
}

TEST_P(KernelSetTest, PerRowAbsmaxQuantizationMatchesOracle) {
  std::mt19937 rng(11);
  for (int64_t k : {1, 15, 16, 33, 128, 300, 2560, 6912}) {
    for (int64_t tokens : {1, 2, 5, 17}) {
      const auto x = random_activations(tokens, k, rng);
      QuantizedActs want, got;
      quantize_acts_ref(ActQuant::PerRowAbsmax, x.data(), tokens, k, want);
      kernels().quantize_acts(ActQuant::PerRowAbsmax, x.data(), tokens, k, got);
      expect_same_acts(want, got, "k=" + std::to_string(k) + " tokens=" + std::to_string(tokens));
    }
  }
}

TEST_P(KernelSetTest, Q8KQuantizationMatchesOracle) {
  std::mt19937 rng(12);
  for (int64_t k : {256, 512, 2560, 6912}) {
    for (int64_t tokens : {1, 3, 4, 17}) {
      const auto x = random_activations(tokens, k, rng);
      QuantizedActs want, got;
      quantize_acts_ref(ActQuant::Q8K, x.data(), tokens, k, want);
      kernels().quantize_acts(ActQuant::Q8K, x.data(), tokens, k, got);
      expect_same_acts(want, got, "k=" + std::to_string(k) + " tokens=" + std::to_string(tokens));
    }
  }
}

TEST_P(KernelSetTest, Q8KRejectsRaggedRows) {
  QuantizedActs out;
  std::vector<float> x(300, 1.0f);
  EXPECT_THROW(kernels().quantize_acts(ActQuant::Q8K, x.data(), 1, 300, out), Error);
}

struct MatmulCase {
  TensorType type;
  int64_t n;
  int64_t k;
  int64_t tokens;
};

std::vector<MatmulCase> matmul_cases() {
  std::vector<MatmulCase> cases;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int64_t> rows(1, 70);
  for (TensorType type : {TensorType::I2_S, TensorType::TQ2_0, TensorType::TQ1_0}) {
    const std::vector<int64_t> ks = type == TensorType::I2_S
                                        ? std::vector<int64_t>{128, 384, 1280, 2560, 7168}
                                        : std::vector<int64_t>{256, 768, 2560, 7168};
    for (int64_t k : ks) {
      for (int64_t tokens : {1, 2, 4, 7, 9, 16, 17}) cases.push_back({type, rows(rng), k, tokens});
    }
    cases.push_back({type, 16, 256 * 3, 1});
    cases.push_back({type, 64, 256 * 2, 65});  // more tokens than one panel
  }
  return cases;
}

std::string describe(const MatmulCase& c) {
  return std::string(to_string(c.type)) + " n=" + std::to_string(c.n) +
         " k=" + std::to_string(c.k) + " tokens=" + std::to_string(c.tokens);
}

void check_matmul(const KernelSet& kernels, const MatmulCase& c, bool scrambled, std::mt19937& rng,
                  SumOrder order = SumOrder::reference) {
  auto m = random_ternary(c.type, c.n, c.k, rng, scrambled);
  prepare_for_kernels(m.w);  // the compute layout the forward pass uses
  const auto x = random_activations(c.tokens, c.k, rng);
  QuantizedActs acts;
  quantize_acts_ref(act_quant_for(c.type), x.data(), c.tokens, c.k, acts);
  acts.order = order;
  std::vector<float> want(static_cast<size_t>(c.tokens * c.n)), got(want.size(), -1.0f);
  ternary_matmul_ref(m.w, acts, want.data(), 0, c.n);
  kernels.matmul(m.w, acts, got.data(), 0, c.n);
  EXPECT_EQ(bits_of(want), bits_of(got)) << describe(c) << (scrambled ? " (scrambled codes)" : "")
                                         << (order == SumOrder::blocks ? " (blocks order)" : "");
  // A row range that starts and ends inside tiles writes exactly its rows.
  if (c.n > 3) {
    std::vector<float> part(want.size(), -7.0f);
    kernels.matmul(m.w, acts, part.data(), 1, c.n - 2);
    for (int64_t t = 0; t < c.tokens; ++t) {
      for (int64_t r = 0; r < c.n; ++r) {
        const float expected = (r >= 1 && r < c.n - 2) ? want[t * c.n + r] : -7.0f;
        ASSERT_EQ(std::bit_cast<uint32_t>(expected), std::bit_cast<uint32_t>(part[t * c.n + r]))
            << describe(c) << " rows [1, n-2) at t=" << t << " r=" << r;
      }
    }
  }
}

TEST_P(KernelSetTest, MatmulBitIdenticalToOracle) {
  std::mt19937 rng(21);
  for (const MatmulCase& c : matmul_cases()) check_matmul(kernels(), c, false, rng);
}

TEST_P(KernelSetTest, BlocksOrderMatmulBitIdenticalToOracle) {
  std::mt19937 rng(23);
  for (const MatmulCase& c : matmul_cases()) {
    if (c.type != TensorType::I2_S) check_matmul(kernels(), c, false, rng, SumOrder::blocks);
  }
  for (TensorType type : {TensorType::TQ2_0, TensorType::TQ1_0}) {
    for (int64_t tokens : {1, 3}) {
      check_matmul(kernels(), {type, 37, 1024, tokens}, true, rng, SumOrder::blocks);
    }
  }
}

// The two orders sum the same exact block products: outputs agree to float rounding (the issue's
// bar for layer outputs: cosine >= 0.999999), and they are not the same bits (the mode is used).
TEST(BitLinear, BlocksOrderAgreesWithReferenceOrder) {
  std::mt19937 rng(24);
  for (TensorType type : {TensorType::TQ2_0, TensorType::TQ1_0}) {
    const int64_t n = 256, k = 6912, tokens = 3;
    auto m = random_ternary(type, n, k, rng);
    prepare_for_kernels(m.w);
    const auto x = random_activations(tokens, k, rng);
    std::vector<float> ref(tokens * n), blocks(tokens * n);
    QuantizedActs scratch;
    bitlinear(m.w, x.data(), tokens, ref.data(), scratch, 2, SumOrder::reference);
    bitlinear(m.w, x.data(), tokens, blocks.data(), scratch, 2, SumOrder::blocks);
    // The exact value (integer block sums, scales in double) and each order's error against it.
    QuantizedActs acts;
    quantize_acts_ref(act_quant_for(type), x.data(), tokens, k, acts);
    std::vector<int32_t> sums(k / 256);
    double err_ref = 0, err_blocks = 0, scale = 0;
    double dot = 0, nr = 0, nb = 0;
    int differing = 0;
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t r = 0; r < n; ++r) {
        ternary_row_dot_blocks_ref(m.w, r, acts.row(t), sums.data());
        double exact = 0;
        for (int64_t b = 0; b < k / 256; ++b) {
          const int64_t block_bytes = traits(type).type_size;
          const float d_w =
              tq_block_scale(type, m.bytes.data() + (r * (k / 256) + b) * block_bytes);
          exact += static_cast<double>(sums[b]) *
                   (static_cast<double>(acts.scale[t * (k / 256) + b]) * d_w);
        }
        const size_t i = static_cast<size_t>(t * n + r);
        err_ref = std::max(err_ref, std::fabs(ref[i] - exact));
        err_blocks = std::max(err_blocks, std::fabs(blocks[i] - exact));
        scale = std::max(scale, std::fabs(exact));
        dot += static_cast<double>(ref[i]) * blocks[i];
        nr += static_cast<double>(ref[i]) * ref[i];
        nb += static_cast<double>(blocks[i]) * blocks[i];
        differing += ref[i] != blocks[i];
      }
    }
    std::printf(
        "  %s: max |error| vs exact: reference order %.3g, blocks order %.3g (max |y| %.3g)\n",
        std::string(to_string(type)).c_str(), err_ref, err_blocks, scale);
    EXPECT_LE(err_blocks, 2 * err_ref + 1e-6 * scale) << to_string(type);
    EXPECT_GE(dot / std::sqrt(nr * nb), 0.999999) << to_string(type);
    EXPECT_GT(differing, 0) << to_string(type) << ": the blocks order gave the reference's bits";
  }
}

TEST_P(KernelSetTest, MatmulBitIdenticalOnEveryCodePattern) {
  std::mt19937 rng(22);
  for (TensorType type : {TensorType::I2_S, TensorType::TQ2_0, TensorType::TQ1_0}) {
    for (int64_t tokens : {1, 3}) check_matmul(kernels(), {type, 37, 1024, tokens}, true, rng);
  }
}

// The AVX-512 compute layout (TQ2_0's 2-bit codes, repacked at load from TQ2_0 or TQ1_0) gives the
// same bits as the file layout, in both sum orders and for every code pattern.
#if defined(__x86_64__) || defined(__i386__)
TEST(KernelsRepack, RepackedMatchesOracle) {
  if (!isa_supported(Isa::avx512))
    GTEST_SKIP() << "this CPU lacks avx512; the repacked layout is not used";
  std::mt19937 rng(41);
  std::vector<std::pair<MatmulCase, bool>> cases;  // (case, scrambled codes)
  for (const MatmulCase& c : matmul_cases()) {
    if (c.type != TensorType::I2_S) cases.push_back({c, false});
  }
  for (TensorType type : {TensorType::TQ2_0, TensorType::TQ1_0}) {
    for (int64_t tokens : {1, 5}) cases.push_back({{type, 37, 1024, tokens}, true});
  }
  for (const auto& [c, scrambled] : cases) {
    auto m = random_ternary(c.type, c.n, c.k, rng, scrambled);
    repack_tq_2bit(m.w);
    ASSERT_NE(m.w.packed_codes, nullptr);
    const auto x = random_activations(c.tokens, c.k, rng);
    QuantizedActs acts;
    quantize_acts_ref(ActQuant::Q8K, x.data(), c.tokens, c.k, acts);
    acts.order = c.tokens == 5 ? SumOrder::blocks : SumOrder::reference;
    std::vector<float> want(static_cast<size_t>(c.tokens * c.n)), got(want.size(), -1.0f);
    ternary_matmul_ref(m.w, acts, want.data(), 0, c.n);
    kernel_set(Isa::avx512).matmul(m.w, acts, got.data(), 0, c.n);
    EXPECT_EQ(bits_of(want), bits_of(got)) << describe(c);
    if (c.n > 3) {  // a range that does not start on a 16-row tile
      std::vector<float> part(want.size(), -7.0f);
      kernel_set(Isa::avx512).matmul(m.w, acts, part.data(), 1, c.n - 2);
      for (int64_t t = 0; t < c.tokens; ++t) {
        for (int64_t r = 1; r < c.n - 2; ++r) {
          ASSERT_EQ(std::bit_cast<uint32_t>(want[t * c.n + r]),
                    std::bit_cast<uint32_t>(part[t * c.n + r]))
              << describe(c) << " t=" << t << " r=" << r;
        }
      }
    }
  }
}
#endif

// With unit scales the outputs are the integer sums themselves (exact in float below 2^24): the
// kernels' integer results must equal the oracle's blockwise dot products.
TEST_P(KernelSetTest, IntegerSumsEqualOracle) {
  std::mt19937 rng(23);
  std::uniform_int_distribution<int> q8(-128, 127);
  for (TensorType type : {TensorType::I2_S, TensorType::TQ2_0, TensorType::TQ1_0}) {
    const int64_t n = 29, k = 1792, tokens = 3;
    auto m = random_ternary(type, n, k, rng, true);
    if (type == TensorType::I2_S) {
      m.w.tensor_scale = 1.0f;
    } else {
      const int64_t ts = traits(type).type_size;
      for (size_t b = 0; b < m.bytes.size() / ts; ++b) {
        m.bytes[b * ts + ts - 2] = 0x00;  // fp16 1.0 = 0x3C00
        m.bytes[b * ts + ts - 1] = 0x3C;
      }
    }
    QuantizedActs acts;
    acts.rule = act_quant_for(type);
    acts.k = k;
    acts.n_tokens = tokens;
    acts.q.resize(tokens * k);
    for (auto& v : acts.q) v = static_cast<int8_t>(q8(rng));
    const int64_t nb = type == TensorType::I2_S ? 1 : k / 256;
    acts.scale.assign(type == TensorType::I2_S ? tokens : tokens * nb, 1.0f);
    acts.qsum.assign(tokens, 0);
    acts.bsum.assign(tokens * nb, 0);
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t j = 0; j < k; ++j) {
        acts.qsum[t] += acts.q[t * k + j];
        acts.bsum[t * nb + (type == TensorType::I2_S ? 0 : j / 256)] += acts.q[t * k + j];
      }
    }
    std::vector<float> got(tokens * n);
    kernels().matmul(m.w, acts, got.data(), 0, n);
    std::vector<int32_t> blocks(nb);
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t r = 0; r < n; ++r) {
        ternary_row_dot_blocks_ref(m.w, r, acts.row(t), blocks.data());
        int64_t total = 0;
        for (int32_t s : blocks) total += s;
        ASSERT_EQ(static_cast<int64_t>(got[t * n + r]), total)
            << to_string(type) << " t=" << t << " r=" << r;
      }
    }
  }
}

// The largest integer sums the kernels can meet: every weight +1 (or -1) against activations of
// -128 or 127 over a long row, through the GEMV and the GEMM tiles. The SIMD dots add vpmaddubsw's
// pair sums in int16 for a while before widening; this is where that would overflow.
TEST_P(KernelSetTest, IntegerSumsAtTheExtremes) {
  const int64_t n = 9, k = 6912;
  for (TensorType type : {TensorType::I2_S, TensorType::TQ2_0, TensorType::TQ1_0}) {
    for (float sign : {1.0f, -1.0f}) {
      const std::vector<float> values(static_cast<size_t>(n * k), sign);
      std::vector<uint8_t> bytes(static_cast<size_t>(*tensor_nbytes(type, n * k, k)));
      quantize_ternary(type, values.data(), bytes.data(), n * k, k);
      auto w = TernaryWeights::from_tensor(type, bytes.data(), k, n);
      if (type == TensorType::I2_S) {
        w.tensor_scale = 1.0f;
      } else {
        const int64_t ts = traits(type).type_size;
        for (size_t b = 0; b < bytes.size() / ts; ++b) {
          bytes[b * ts + ts - 2] = 0x00;  // fp16 1.0 = 0x3C00
          bytes[b * ts + ts - 1] = 0x3C;
        }
      }
      for (int64_t tokens : {1, 5}) {
        QuantizedActs acts;
        acts.rule = act_quant_for(type);
        acts.k = k;
        acts.n_tokens = tokens;
        acts.q.resize(static_cast<size_t>(tokens * k));
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t j = 0; j < k; ++j) {
            // Token 0 all -128, token 1 all 127, the others alternating.
            const int v = t == 0 ? -128 : t == 1 ? 127 : (j % 2 ? 127 : -128);
            acts.q[t * k + j] = static_cast<int8_t>(v);
          }
        }
        const int64_t nb = type == TensorType::I2_S ? 1 : k / 256;
        acts.scale.assign(static_cast<size_t>(type == TensorType::I2_S ? tokens : tokens * nb),
                          1.0f);
        acts.qsum.assign(static_cast<size_t>(tokens), 0);
        acts.bsum.assign(static_cast<size_t>(tokens * nb), 0);
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t j = 0; j < k; ++j) {
            acts.qsum[t] += acts.q[t * k + j];
            acts.bsum[t * nb + (type == TensorType::I2_S ? 0 : j / 256)] += acts.q[t * k + j];
          }
        }
        std::vector<float> got(static_cast<size_t>(tokens * n));
        kernels().matmul(w, acts, got.data(), 0, n);
        for (int64_t t = 0; t < tokens; ++t) {
          const int64_t want = static_cast<int64_t>(sign) * acts.qsum[t];
          for (int64_t r = 0; r < n; ++r) {
            ASSERT_EQ(static_cast<int64_t>(got[t * n + r]), want)
                << to_string(type) << " weights " << sign << " tokens=" << tokens << " t=" << t
                << " r=" << r;
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, KernelSetTest, ::testing::ValuesIn(built_isas()),
                         [](const ::testing::TestParamInfo<Isa>& p) {
                           return std::string(to_string(p.param));
                         });

// The entry point the forward pass uses, with the kernels this process selected (BITNET_CPU or the
// best), against the oracle pipeline; 1, 2 and 3 threads give the same bits.
TEST(BitLinear, EntryPointMatchesOracleForAnyThreadCount) {
  std::mt19937 rng(31);
  for (TensorType type : {TensorType::I2_S, TensorType::TQ2_0, TensorType::TQ1_0}) {
    for (int64_t tokens : {1, 6}) {
      const int64_t n = 83, k = 1536;
      auto m = random_ternary(type, n, k, rng);
      prepare_for_kernels(m.w);
      const auto x = random_activations(tokens, k, rng);
      QuantizedActs ref_acts;
      quantize_acts_ref(act_quant_for(type), x.data(), tokens, k, ref_acts);
      std::vector<float> want(tokens * n);
      ternary_matmul_ref(m.w, ref_acts, want.data(), 0, n);
      for (int threads : {1, 2, 3}) {
        QuantizedActs scratch;
        std::vector<float> got(tokens * n, -1.0f);
        bitlinear(m.w, x.data(), tokens, got.data(), scratch, threads);
        EXPECT_EQ(bits_of(want), bits_of(got))
            << to_string(type) << " tokens=" << tokens << " threads=" << threads
            << " isa=" << to_string(selected_isa());
      }
    }
  }
}

// The grouped entry point (Q/K/V, gate/up) splits the tiles of all matrices over the threads; every
// output must equal its own oracle product, whatever the split and however ragged the row counts.
TEST(BitLinear, GroupMatchesOracleForEveryMatrixAndThreadCount) {
  std::mt19937 rng(37);
  for (TensorType type : {TensorType::I2_S, TensorType::TQ2_0, TensorType::TQ1_0}) {
    for (int64_t tokens : {1, 5}) {
      const int64_t k = 1024;
      const int64_t rows[3] = {83, 16, 41};
      std::vector<test::TernaryMatrix> mats;
      for (int64_t n : rows) {
        mats.push_back(random_ternary(type, n, k, rng));
        prepare_for_kernels(mats.back().w);
      }
      const auto x = random_activations(tokens, k, rng);
      QuantizedActs ref_acts;
      quantize_acts_ref(act_quant_for(type), x.data(), tokens, k, ref_acts);
      for (int threads : {1, 2, 3, 7}) {
        QuantizedActs scratch;
        std::vector<std::vector<float>> got(3);
        const TernaryWeights* ws[3];
        float* ys[3];
        for (int i = 0; i < 3; ++i) {
          got[i].assign(static_cast<size_t>(tokens * rows[i]), -1.0f);
          ws[i] = &mats[i].w;
          ys[i] = got[i].data();
        }
        bitlinear_group(ws, x.data(), tokens, ys, scratch, threads);
        for (int i = 0; i < 3; ++i) {
          std::vector<float> want(static_cast<size_t>(tokens * rows[i]));
          ternary_matmul_ref(mats[i].w, ref_acts, want.data(), 0, rows[i]);
          EXPECT_EQ(bits_of(want), bits_of(got[i]))
              << to_string(type) << " matrix " << i << " tokens=" << tokens
              << " threads=" << threads;
        }
      }
    }
  }
}

TEST(BitLinear, GroupRejectsMismatchedShapes) {
  std::mt19937 rng(41);
  auto a = random_ternary(TensorType::TQ2_0, 16, 512, rng);
  auto b = random_ternary(TensorType::TQ2_0, 16, 256, rng);
  const auto x = random_activations(1, 512, rng);
  std::vector<float> ya(16), yb(16);
  QuantizedActs scratch;
  const TernaryWeights* ws[2] = {&a.w, &b.w};
  float* ys[2] = {ya.data(), yb.data()};
  EXPECT_THROW(bitlinear_group(ws, x.data(), 1, ys, scratch, 2), Error);
  float* one[1] = {ya.data()};
  EXPECT_THROW(bitlinear_group(ws, x.data(), 1, one, scratch, 2), Error);
}

TEST(CpuFeatures, TableIsConsistent) {
  EXPECT_TRUE(isa_supported(Isa::scalar));
  EXPECT_TRUE(isa_supported(best_isa()));
  EXPECT_TRUE(isa_supported(selected_isa()));
  if (isa_supported(Isa::avx512)) {
    EXPECT_TRUE(isa_supported(Isa::avx2));
    EXPECT_TRUE(cpu_features().avx512vnni);
  }
  if (isa_supported(Isa::avx2)) {
    EXPECT_TRUE(cpu_features().avx2 && cpu_features().fma && cpu_features().f16c);
  }
  if (isa_supported(Isa::dotprod)) {
    EXPECT_TRUE(isa_supported(Isa::neon));
  }
  // A set is supported only in a build of its architecture, and the best one is the last built.
  for (Isa isa : {Isa::avx2, Isa::avx512, Isa::neon, Isa::dotprod}) {
    const auto built = built_isas();
    if (std::find(built.begin(), built.end(), isa) == built.end()) {
      EXPECT_FALSE(isa_supported(isa)) << to_string(isa);
    }
  }
  EXPECT_EQ(built_isas().front(), Isa::scalar);
}

TEST(CpuFeatures, ParseIsaRejectsUnknownAndUnsupported) {
  EXPECT_EQ(parse_isa("scalar"), Isa::scalar);
  try {
    parse_isa("sse9");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::device);
    EXPECT_NE(std::string(e.what()).find("sse9"), std::string::npos);
  }
  for (Isa isa : {Isa::avx2, Isa::avx512, Isa::neon, Isa::dotprod}) {
    if (isa_supported(isa)) {
      EXPECT_EQ(parse_isa(to_string(isa)), isa);
    } else {
      EXPECT_THROW(parse_isa(to_string(isa)), Error);
    }
  }
  // Another architecture's set is named as such.
  const char* foreign = built_isas().back() == Isa::dotprod ? "avx2" : "neon";
  if (built_isas().size() > 1) {
    try {
      parse_isa(foreign);
      FAIL() << "expected an error for " << foreign;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("another architecture"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace bitnet::kernels
