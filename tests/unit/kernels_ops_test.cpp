// The SIMD small ops (kernels/ops.hpp) against their scalar oracles (kernels/ops_ref.hpp), bit for
// bit (any NaN equals any NaN), for every kernel set this CPU runs: ragged lengths, inputs over
// wide ranges and exp's edges (where 2^n stops being a normal float, the 0/+inf cut at |n| > 192,
// subnormal results, NaN, infinities).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

uint32_t bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

bool same(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || bits(a) == bits(b);
}

// Index of the first difference, or -1.
int64_t first_difference(const std::vector<float>& want, const std::vector<float>& got) {
  if (want.size() != got.size()) return 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!same(want[i], got[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

#define EXPECT_SAME_FLOATS(want, got, where)                                      \
  do {                                                                            \
    const int64_t at_ = first_difference(want, got);                              \
    EXPECT_EQ(at_, -1) << (where) << ": first difference at " << at_ << ": want " \
                       << (at_ >= 0 ? want[at_] : 0.0f) << " got "                \
                       << (at_ >= 0 ? got[at_] : 0.0f);                           \
  } while (0)

std::vector<int64_t> ragged_lengths() {
  std::vector<int64_t> n;
  for (int64_t i = 1; i <= 70; ++i) n.push_back(i);
  for (int64_t i : {127, 128, 129, 2560, 6912}) n.push_back(i);
  return n;
}

// x = k*ln2 + d around every binade exp can reach and the cuts where ggml_expf's n reaches
// +-126/127/128 (2^n leaves the normal floats), +-149 (results below the subnormals) and +-192/193
// (the 0/+inf cut), each with its float neighbours; and the special values.
std::vector<float> exp_edge_inputs() {
  std::vector<float> x;
  for (int k = -200; k <= 200; ++k) {
    for (float d : {-0.5f, -0.49f, -0.25f, 0.0f, 0.25f, 0.49f, 0.5f}) {
      const auto v = static_cast<float>((k + d) * 0.6931471805599453);
      x.push_back(v);
      x.push_back(std::nextafter(v, kInf));
      x.push_back(std::nextafter(v, -kInf));
    }
  }
  for (float v :
       {87.0f,  87.33f,  87.5f,   88.0f,  88.37f, 88.38f, 88.72f,  88.7228f, 88.73f, 89.0f,
        103.0f, 103.97f, 103.98f, 104.0f, 104.5f, 130.0f, 133.08f, 133.2f,   1e4f,   3e38f}) {
    for (float s : {1.0f, -1.0f}) {
      x.push_back(s * v);
      x.push_back(std::nextafter(s * v, kInf));
      x.push_back(std::nextafter(s * v, -kInf));
    }
  }
  for (float v : {0.0f, -0.0f, kInf, -kInf, kNaN, -kNaN, 1e-45f, -1e-45f, 1e-38f,
                  std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()}) {
    x.push_back(v);
  }
  return x;
}

// Floats from random bit patterns (every class: NaN, infinities, subnormals, huge, tiny).
std::vector<float> random_bit_floats(int64_t n, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    const uint32_t u = rng();
    std::memcpy(&v, &u, sizeof v);
  }
  return x;
}

std::vector<float> uniform(int64_t n, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  return x;
}

// Normal values with a random spread per row, sprinkled with zeros, tiny values and subnormals,
// exact powers of two and values of very different magnitude.
std::vector<float> activation_like(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-40, 20);
  std::uniform_int_distribution<int> pick(0, 99);
  const float spread = std::ldexp(1.0f, exponent(rng));
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    const int p = pick(rng);
    if (p < 3) {
      v = 0.0f;
    } else if (p < 6) {
      v = normal(rng) * 1e-20f;
    } else if (p < 8) {
      v = normal(rng) * 1e-42f;  // subnormal
    } else if (p < 11) {
      v = std::ldexp(1.0f, exponent(rng));
    } else if (p < 13) {
      v = normal(rng) * spread * 4096.0f;
    } else {
      v = normal(rng) * spread;
    }
  }
  return x;
}

class OpsTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << to_string(GetParam()) << "; its ops are not tested here";
    }
    // A SIMD set that fell back to the oracle would pass every test here without testing anything.
    if (GetParam() != Isa::scalar) {
      ASSERT_NE(ops_set().isa, Isa::scalar) << to_string(GetParam());
    }
  }
  const OpsKernels& ops_set() const { return ops_kernels(GetParam()); }

  void expect_exp_matches(const std::vector<float>& x, const std::string& where) const {
    std::vector<float> want(x.size()), got(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = ggml_expf(x[i]);
    ops_set().exp(x.data(), got.data(), static_cast<int64_t>(x.size()));
    EXPECT_SAME_FLOATS(want, got, where);
    // In place as well.
    std::vector<float> in_place = x;
    ops_set().exp(in_place.data(), in_place.data(), static_cast<int64_t>(x.size()));
    EXPECT_SAME_FLOATS(want, in_place, where + " in place");
  }
};

TEST_P(OpsTest, ExpMatchesOracleAtTheEdges) {
  const std::vector<float> x = exp_edge_inputs();
  expect_exp_matches(x, "edges");
  // Every edge value in every lane position and with every tail length.
  for (int64_t shift = 1; shift < 17; ++shift) {
    const std::vector<float> part(x.begin() + shift, x.end() - (17 - shift));
    expect_exp_matches(part, "edges shifted by " + std::to_string(shift));
  }
}

TEST_P(OpsTest, ExpMatchesOracleOnWideRandomInputs) {
  std::mt19937 rng(1);
  expect_exp_matches(random_bit_floats(200000, rng), "random bit patterns");
  expect_exp_matches(uniform(200000, -150.0f, 150.0f, rng), "uniform [-150, 150]");
  expect_exp_matches(uniform(100000, -110.0f, -80.0f, rng), "subnormal results");
  expect_exp_matches(uniform(100000, 85.0f, 90.0f, rng), "overflow edge");
  for (int64_t n : ragged_lengths()) {
    expect_exp_matches(uniform(n, -100.0f, 100.0f, rng), "n=" + std::to_string(n));
  }
}

// One float in 4099 over the whole 32-bit space (the exhaustive sweep, DISABLED_ below, takes
// minutes).
TEST_P(OpsTest, ExpMatchesOracleOnASweepOfAllFloats) {
  std::vector<float> x;
  for (uint64_t u = 0; u <= 0xffffffffu; u += 4099) {
    float v;
    const auto u32 = static_cast<uint32_t>(u);
    std::memcpy(&v, &u32, sizeof v);
    x.push_back(v);
  }
  expect_exp_matches(x, "sweep");
}

TEST_P(OpsTest, DISABLED_ExpMatchesOracleOnEveryFloat) {
  constexpr int64_t kChunk = int64_t{1} << 24;
  std::vector<float> x(kChunk), want(kChunk), got(kChunk);
  for (uint64_t base = 0; base <= 0xffffffffu; base += kChunk) {
    for (int64_t i = 0; i < kChunk; ++i) {
      const auto u = static_cast<uint32_t>(base + static_cast<uint64_t>(i));
      std::memcpy(&x[i], &u, sizeof u);
      want[i] = ggml_expf(x[i]);
    }
    ops_set().exp(x.data(), got.data(), kChunk);
    EXPECT_SAME_FLOATS(want, got, "chunk " + std::to_string(base >> 24));
  }
}

TEST_P(OpsTest, FfnActivationsMatchOracle) {
  std::mt19937 rng(2);
  std::vector<std::vector<float>> gates;
  for (int64_t n : ragged_lengths()) gates.push_back(uniform(n, -30.0f, 30.0f, rng));
  gates.push_back(exp_edge_inputs());
  gates.push_back(random_bit_floats(50000, rng));
  gates.push_back(uniform(50000, -120.0f, 120.0f, rng));
  for (const auto& gate : gates) {
    const auto n = static_cast<int64_t>(gate.size());
    const std::vector<float> up = uniform(n, -4.0f, 4.0f, rng);
    std::vector<float> want(gate.size()), got = gate;
    for (size_t i = 0; i < gate.size(); ++i) want[i] = silu_ref(gate[i]) * up[i];
    ops_set().silu_mul(got.data(), up.data(), n);
    EXPECT_SAME_FLOATS(want, got, "silu n=" + std::to_string(n));

    got = gate;
    for (size_t i = 0; i < gate.size(); ++i) want[i] = relu2_ref(gate[i]) * up[i];
    ops_set().relu2_mul(got.data(), up.data(), n);
    EXPECT_SAME_FLOATS(want, got, "relu2 n=" + std::to_string(n));
  }
}

TEST_P(OpsTest, SoftmaxMatchesOracle) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 49);
  for (int64_t n : ragged_lengths()) {
    for (float spread : {0.5f, 8.0f, 60.0f, 400.0f}) {
      std::vector<float> scores(static_cast<size_t>(n));
      for (auto& v : scores) v = normal(rng) * spread;
      if (n > 3 && spread == 60.0f) {  // the odd special score
        const int p = pick(rng);
        if (p < 10) scores[static_cast<size_t>(p) % n] = -kInf;
        if (p == 10) scores[1] = kNaN;
        if (p == 11) scores[2] = kInf;
      }
      for (float scale : {0.088388346f, 1.0f, 0.3f}) {
        std::vector<float> want = scores, got = scores;
        softmax_scaled_ref(want.data(), n, scale);
        ops_set().softmax_scaled(got.data(), n, scale);
        EXPECT_SAME_FLOATS(want, got,
                           "n=" + std::to_string(n) + " spread=" + std::to_string(spread));
      }
    }
  }
  for (int64_t n : {1, 17, 40}) {  // every score -inf, and all equal
    for (float v : {-kInf, 3.0f}) {
      std::vector<float> want(static_cast<size_t>(n), v), got = want;
      softmax_scaled_ref(want.data(), n, 0.5f);
      ops_set().softmax_scaled(got.data(), n, 0.5f);
      EXPECT_SAME_FLOATS(want, got, "constant n=" + std::to_string(n));
    }
  }
}

double sequential_sum_of_squares(const std::vector<float>& x) {
  double sum = 0.0;
  for (float v : x) sum += static_cast<double>(v * v);
  return sum;
}

void expect_sum_of_squares_matches(const OpsKernels& set, const std::vector<float>& x,
                                   const std::string& where) {
  const double want = sequential_sum_of_squares(x);
  const double got = set.sum_of_squares(x.data(), static_cast<int64_t>(x.size()));
  uint64_t want_bits, got_bits;
  std::memcpy(&want_bits, &want, 8);
  std::memcpy(&got_bits, &got, 8);
  EXPECT_TRUE(want_bits == got_bits || (std::isnan(want) && std::isnan(got)))
      << where << ": want " << want << " got " << got;
}

void expect_rms_norm_matches(const OpsKernels& set, const std::vector<float>& x,
                             const std::vector<float>& w, float eps, const std::string& where) {
  expect_sum_of_squares_matches(set, x, where);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<float> want(x.size()), got(x.size());
  rms_norm_ref(x.data(), w.data(), n, eps, want.data());
  set.rms_norm(x.data(), w.data(), n, eps, got.data());
  EXPECT_SAME_FLOATS(want, got, where);
}

TEST_P(OpsTest, RmsNormMatchesOracle) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : ragged_lengths()) {
    for (int trial = 0; trial < 6; ++trial) {
      const std::vector<float> w = uniform(n, -2.0f, 2.0f, rng);
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = normal(rng);
      expect_rms_norm_matches(ops_set(), x, w, 1e-5f, "normal n=" + std::to_string(n));
      expect_rms_norm_matches(ops_set(), activation_like(n, rng), w, 1e-6f,
                              "mixed n=" + std::to_string(n));
    }
  }
}

// Rows chosen to make the sequential double sum round, or its partial sums cross powers of two, at
// every block position: the blocked sum must fall back exactly there.
TEST_P(OpsTest, RmsNormKeepsTheSequentialRounding) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {2560, 6912, 300}) {
    const std::vector<float> w = uniform(n, 0.5f, 1.5f, rng);
    for (int trial = 0; trial < 200; ++trial) {
      expect_rms_norm_matches(ops_set(), activation_like(n, rng), w, 1e-6f,
                              "mixed trial " + std::to_string(trial));
    }
    std::vector<float> x(static_cast<size_t>(n), 1.0f);  // partial sums on powers of two
    expect_rms_norm_matches(ops_set(), x, w, 1e-6f, "ones");
    for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0f + std::ldexp(static_cast<float>(i % 7), -20);
    expect_rms_norm_matches(ops_set(), x, w, 1e-6f, "full significands");
    for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 97 == 0) ? 3e-5f : 1.7f;  // rounds
    expect_rms_norm_matches(ops_set(), x, w, 1e-6f, "small among large");
    for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 61 == 0) ? 2e4f : 1e-3f;
    expect_rms_norm_matches(ops_set(), x, w, 1e-6f, "large among small");
    x.assign(x.size(), 0.0f);
    expect_rms_norm_matches(ops_set(), x, w, 1e-6f, "zeros");
    x[n / 2] = 1e-44f;
    expect_rms_norm_matches(ops_set(), x, w, 1e-6f, "one subnormal");
    for (float special : {kInf, -kInf, kNaN, 2e19f /* square overflows */}) {
      std::vector<float> y(static_cast<size_t>(n));
      for (auto& v : y) v = normal(rng);
      y[n / 3] = special;
      expect_rms_norm_matches(ops_set(), y, w, 1e-6f, "special " + std::to_string(special));
    }
  }
}

// The double sum itself on rows where it rounds often: the blocked sum must detect every block
// whose sequential additions round (a tree sum of those differs in the last bits).
TEST_P(OpsTest, SumOfSquaresRoundsAsTheSequentialSum) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> unit(0.5f, 1.0f);
  std::uniform_int_distribution<int> exponent(-30, 30);
  int64_t differs_from_tree = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t n = trial % 3 == 0 ? 2560 : 16 + trial % 97;
    std::vector<float> x(static_cast<size_t>(n));
    const int range = 1 + trial % 30;  // magnitudes within 2^+-range
    for (auto& v : x) v = std::ldexp(unit(rng), exponent(rng) % range);
    expect_sum_of_squares_matches(ops_set(), x, "trial " + std::to_string(trial));
    // Count the rows where a pairwise sum would have been wrong: the test is only as good as this.
    double pairwise = 0.0;
    for (size_t i = 0; i + 1 < x.size(); i += 2) {
      pairwise += static_cast<double>(x[i] * x[i]) + static_cast<double>(x[i + 1] * x[i + 1]);
    }
    if (x.size() % 2) pairwise += static_cast<double>(x.back() * x.back());
    differs_from_tree += pairwise != sequential_sum_of_squares(x);
  }
  EXPECT_GT(differs_from_tree, 100);

  // A fine-grained running sum (a first block of wide magnitudes) followed by blocks of squares
  // with few significant bits: every block adds exactly on its own, but the sum crosses powers of
  // two, where the running sum's low bits round away.
  std::uniform_int_distribution<int> small_int(1, 64);
  std::uniform_int_distribution<int> wide(-24, 8);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t n = 16 * (2 + trial % 40);
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < 16; ++i) x[i] = std::ldexp(unit(rng), wide(rng));
    const int e = trial % 5;
    for (int64_t i = 16; i < n; ++i) x[i] = std::ldexp(static_cast<float>(small_int(rng)), e);
    expect_sum_of_squares_matches(ops_set(), x, "coarse trial " + std::to_string(trial));
  }
}

TEST_P(OpsTest, RopeNeoxMatchesOracle) {
  std::mt19937 rng(6);
  std::uniform_int_distribution<int> position(0, 40000);
  for (int64_t n_rot = 2; n_rot <= 140; n_rot += 2) {
    for (int64_t extra : {0, 6}) {
      const int64_t head_dim = n_rot + extra;
      const int64_t n_heads = 1 + n_rot % 3;
      std::vector<float> cache(static_cast<size_t>(n_rot));
      rope_cache_ref(static_cast<float>(position(rng)), n_rot, 10000.0f, 1.0f, cache.data());
      const std::vector<float> x = uniform(n_heads * head_dim, -8.0f, 8.0f, rng);
      std::vector<float> want = x, got = x;
      for (int64_t h = 0; h < n_heads; ++h)
        rope_neox_ref(want.data() + h * head_dim, n_rot, cache.data());
      ops_set().rope_neox(got.data(), n_heads, head_dim, n_rot, cache.data());
      EXPECT_SAME_FLOATS(
          want, got, "n_rot=" + std::to_string(n_rot) + " head_dim=" + std::to_string(head_dim));
    }
  }
}

TEST_P(OpsTest, AddAndScaleMatchOracle) {
  std::mt19937 rng(7);
  for (int64_t n : ragged_lengths()) {
    const std::vector<float> a = random_bit_floats(n, rng);
    const std::vector<float> b = uniform(n, -1e3f, 1e3f, rng);
    std::vector<float> want(a.size()), got = b;
    for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] + b[i];
    ops_set().add(got.data(), a.data(), n);
    EXPECT_SAME_FLOATS(want, got, "add n=" + std::to_string(n));

    got = a;
    for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] * 0.7f;
    ops_set().scale(got.data(), n, 0.7f);
    EXPECT_SAME_FLOATS(want, got, "scale n=" + std::to_string(n));
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, OpsTest, ::testing::ValuesIn(built_isas()),
                         [](const ::testing::TestParamInfo<Isa>& p) {
                           return std::string(to_string(p.param));
                         });

// The row-batched entry points of the forward pass (the selected set, BITNET_CPU) against the
// oracle row by row, for batches that stay on the calling thread and batches split over threads.
TEST(OpsRows, BatchesMatchOracleForAnyThreadCount) {
  std::mt19937 rng(8);
  const int64_t n = 7680;  // 9 rows are over kMinValuesToFork, 4 are not
  const int64_t head_dim = 128;
  const int64_t n_rot = 64;
  static_assert(4 * n < kMinValuesToFork && 9 * n >= kMinValuesToFork);
  for (int64_t rows : {1, 4, 9}) {
    const std::vector<float> x = uniform(rows * n, -10.0f, 10.0f, rng);
    const std::vector<float> up = uniform(rows * n, -3.0f, 3.0f, rng);
    const std::vector<float> w = uniform(n, -2.0f, 2.0f, rng);
    std::vector<float> caches(static_cast<size_t>(rows * n_rot));
    for (int64_t r = 0; r < rows; ++r) {
      rope_cache_ref(static_cast<float>(r + 3), n_rot, 10000.0f, 1.0f, caches.data() + r * n_rot);
    }
    std::vector<float> norm_want(x.size()), silu_want(x.size()), relu2_want(x.size()),
        add_want(x.size()), scale_want(x.size()), rope_want = x;
    for (int64_t r = 0; r < rows; ++r) {
      rms_norm_ref(x.data() + r * n, w.data(), n, 1e-5f, norm_want.data() + r * n);
      for (int64_t h = 0; h < n / head_dim; ++h) {
        rope_neox_ref(rope_want.data() + r * n + h * head_dim, n_rot, caches.data() + r * n_rot);
      }
    }
    for (size_t i = 0; i < x.size(); ++i) {
      silu_want[i] = silu_ref(x[i]) * up[i];
      relu2_want[i] = relu2_ref(x[i]) * up[i];
      add_want[i] = x[i] + up[i];
      scale_want[i] = up[i] * 1.5f;
    }
    for (int threads : {1, 2, 3}) {
      const std::string where =
          "rows=" + std::to_string(rows) + " threads=" + std::to_string(threads);
      std::vector<float> got(x.size());
      rms_norm_rows(x.data(), w.data(), rows, n, 1e-5f, got.data(), threads);
      EXPECT_SAME_FLOATS(norm_want, got, "rms_norm " + where);
      got = x;
      silu_mul_rows(got.data(), up.data(), rows, n, threads);
      EXPECT_SAME_FLOATS(silu_want, got, "silu " + where);
      got = x;
      relu2_mul_rows(got.data(), up.data(), rows, n, threads);
      EXPECT_SAME_FLOATS(relu2_want, got, "relu2 " + where);
      got = up;
      add_rows(got.data(), x.data(), rows, n, threads);
      EXPECT_SAME_FLOATS(add_want, got, "add " + where);
      got = up;
      scale_rows(got.data(), rows, n, 1.5f, threads);
      EXPECT_SAME_FLOATS(scale_want, got, "scale " + where);
      got = x;
      rope_neox_rows(got.data(), rows, n, head_dim, n_rot, caches.data(), threads);
      EXPECT_SAME_FLOATS(rope_want, got, "rope " + where);
    }
  }
}

}  // namespace
}  // namespace bitnet::kernels
