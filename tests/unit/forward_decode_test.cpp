// Incremental decoding: the reference's greedy continuations (one token per eval), prefill + one
// token against the all-positions batch, TQ1_0 vs TQ2_0, and the same weights stored as I2_S.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "forward_test_support.hpp"
#include "gguf/gguf_writer.hpp"
#include "kernels/bitlinear.hpp"
#include "model/context.hpp"
#include "quant/dequantize.hpp"

namespace bitnet {
namespace {

std::shared_ptr<const Model> load_fixture_model(const std::string& name) {
  return Model::load(test::fixture(name));
}

ContextOptions options(Numerics numerics, int32_t n_ctx = 256) {
  ContextOptions o;
  o.n_ctx = n_ctx;
  o.numerics = numerics;
  return o;
}

// First max wins, as the reference's greedy loop.
int32_t greedy_pick(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

TEST(ForwardDecode, GreedyContinuationsMatchBitnetCpp) {
  auto cases = test::load_golden_cases("golden", "tiny-b158-i2s");
  test::trim_for_sanitizers(cases, 2);
  ASSERT_FALSE(cases.empty());
  const auto model = Model::load(cases[0].model);
  for (const auto& gc : cases) {
    ASSERT_FALSE(gc.greedy.empty()) << gc.name;
    Context ctx(model, options(Numerics::Reference));
    ctx.eval(gc.tokens, false);
    std::vector<int32_t> ours;
    float min_margin = INFINITY;
    for (size_t i = 0; i < gc.greedy.size(); ++i) {
      const auto logits = ctx.last_logits();
      min_margin = std::min(min_margin,
                            test::top2_margin(logits.data(), static_cast<int64_t>(logits.size())));
      ours.push_back(greedy_pick(logits));
      if (ours.back() != gc.greedy[i]) break;
      const int32_t next = ours.back();
      ctx.eval(std::span<const int32_t>(&next, 1), false);
    }
    std::printf("  %-32s greedy %zu/%zu tokens equal, smallest top-2 margin on the way %.4f\n",
                gc.name.c_str(), ours.size() - (ours.back() != gc.greedy[ours.size() - 1]),
                gc.greedy.size(), min_margin);
    EXPECT_EQ(ours, gc.greedy) << gc.name;
  }
}

// Prefill the first half of `tokens` in one batch, then decode the rest one token per eval; compare
// every decoded position with the same row of the all-positions batch.
void check_prefill_then_one(const std::string& model_name, const std::vector<int32_t>& tokens,
                            Numerics numerics, double min_cos_required) {
  const auto model = load_fixture_model(model_name);
  Context all(model, options(numerics));
  all.eval(tokens, true);
  const int64_t n_vocab = all.n_vocab();
  const size_t n_prefill = tokens.size() / 2;
  Context inc(model, options(numerics));
  inc.eval(std::span<const int32_t>(tokens.data(), n_prefill), false);
  double min_cos = 1;
  double max_abs = 0;
  for (size_t n = n_prefill; n < tokens.size(); ++n) {
    inc.eval(std::span<const int32_t>(tokens.data() + n, 1), false);
    ASSERT_EQ(inc.n_past(), static_cast<int32_t>(n + 1));
    const float* ref = all.logits().data() + static_cast<int64_t>(n) * n_vocab;
    const float* got = inc.last_logits().data();
    min_cos = std::min(min_cos, test::cosine(got, ref, n_vocab));
    for (int64_t i = 0; i < n_vocab; ++i)
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(got[i]) - ref[i]));
  }
  std::printf(
      "  %-24s %-9s prefill %zu, then %zu single-token evals vs one batch: min cos %.7f, max "
      "|diff| %.3g\n",
      model_name.c_str(), numerics == Numerics::Reference ? "reference" : "fast", n_prefill,
      tokens.size() - n_prefill, min_cos, max_abs);
  EXPECT_GE(min_cos, min_cos_required);
}

TEST(ForwardDecode, PrefillThenOneMatchesBatchI2S) {
  const auto cases = test::load_golden_cases("golden", "tiny-b158-i2s.p4");
  ASSERT_EQ(cases.size(), 1u);
  check_prefill_then_one("tiny-b158-i2s.gguf", cases[0].tokens, Numerics::Reference, 0.999);
  check_prefill_then_one("tiny-b158-i2s.gguf", cases[0].tokens, Numerics::Fast, 0.99999);
}

TEST(ForwardDecode, PrefillThenOneMatchesBatchTQ2_0) {
  const auto cases = test::load_golden_cases("golden-upstream", "tiny-bitnet-tq2_0.p5");
  ASSERT_EQ(cases.size(), 1u);
  check_prefill_then_one("tiny-bitnet-tq2_0.gguf", cases[0].tokens, Numerics::Reference, 0.999);
  check_prefill_then_one("tiny-bitnet-tq2_0.gguf", cases[0].tokens, Numerics::Fast, 0.99999);
}

TEST(ForwardDecode, FastNumericsDoNotDependOnBatching) {
  const auto model = load_fixture_model("tiny-bitnet-tq2_0.gguf");
  const std::vector<int32_t> tokens = {1,     450, 4996, 17354, 1701, 432,
                                       17204, 975, 278,  17366, 11203};
  Context all(model, options(Numerics::Fast));
  all.eval(tokens, true);
  Context split(model, options(Numerics::Fast));
  split.eval(std::span<const int32_t>(tokens.data(), 6), false);
  split.eval(std::span<const int32_t>(tokens.data() + 6, tokens.size() - 6), true);
  const int64_t n_vocab = all.n_vocab();
  const auto tail = split.logits();
  ASSERT_EQ(tail.size(), (tokens.size() - 6) * static_cast<size_t>(n_vocab));
  EXPECT_EQ(0, std::memcmp(tail.data(), all.logits().data() + 6 * n_vocab, tail.size_bytes()));
}

TEST(ForwardDecode, TQ1_0AndTQ2_0GiveIdenticalLogits) {
  const auto tq1 = load_fixture_model("tiny-bitnet-tq1_0.gguf");
  const auto tq2 = load_fixture_model("tiny-bitnet-tq2_0.gguf");
  const std::vector<int32_t> tokens = {1,     306,   763,   278,   937,  310,
                                       29871, 29906, 29900, 29906, 29945};
  for (auto numerics : {Numerics::Reference, Numerics::Fast}) {
    Context a(tq1, options(numerics));
    Context b(tq2, options(numerics));
    a.eval(tokens, true);
    b.eval(tokens, true);
    ASSERT_EQ(a.logits().size(), b.logits().size());
    EXPECT_EQ(0, std::memcmp(a.logits().data(), b.logits().data(), a.logits().size_bytes()));
  }
}

// The TQ2_0 model's ternary weights re-stored as I2_S in an otherwise identical `bitnet` file: the
// only difference is then the activation quantization rule (per-row absmax for I2_S, Q8_K for TQ)
// and the reference flavor's rounding rules.
std::string write_i2s_copy(const std::string& tq_path) {
  const auto src = gguf::GgufFile::open(tq_path);
  gguf::GgufWriter w;
  for (const auto& [key, value] : src.metadata()) {
    if (key == "general.file_type") continue;
    w.copy_key(key, value);
  }
  for (const auto& t : src.tensors()) {
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    if (is_ternary(t.type)) {
      std::vector<float> values(static_cast<size_t>(t.n_elements));
      dequantize_tensor(t.type, t.data, values.data(), t.n_elements, t.ne[0]);
      std::vector<uint8_t> bytes(
          static_cast<size_t>(*tensor_nbytes(TensorType::I2_S, t.n_elements, t.ne[0])));
      quantize_ternary(TensorType::I2_S, values.data(), bytes.data(), t.n_elements, t.ne[0]);
      w.add_tensor(t.name, TensorType::I2_S, ne, std::move(bytes));
    } else {
      const auto* p = reinterpret_cast<const uint8_t*>(t.data);
      w.add_tensor(t.name, t.type, ne, std::vector<uint8_t>(p, p + t.nbytes));
    }
  }
  const auto path = (test::scratch_dir() / "tiny-bitnet-i2s-copy.gguf").string();
  w.write(path);
  return path;
}

// Per BitLinear: the same ternary weights as TQ2_0 (Q8_K activations) and as I2_S (per-row absmax
// activations) on the same inputs differ only by the activation rule.
TEST(ForwardDecode, SameWeightsAsI2SAgreePerBitLinear) {
  const auto tq = load_fixture_model("tiny-bitnet-tq2_0.gguf");
  const auto i2s = Model::load(write_i2s_copy(test::fixture("tiny-bitnet-tq2_0.gguf")));
  ASSERT_EQ(i2s->config().weight_type, TensorType::I2_S);
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  double min_cos = 1;
  const int64_t n_tokens = 4;
  for (size_t il = 0; il < tq->weights().layers.size(); ++il) {
    const auto& a = tq->weights().layers[il];
    const auto& b = i2s->weights().layers[il];
    const std::pair<const BitLinearWeights*, const BitLinearWeights*> pairs[] = {
        {&a.wq, &b.wq},     {&a.wk, &b.wk}, {&a.wv, &b.wv},    {&a.wo, &b.wo},
        {&a.gate, &b.gate}, {&a.up, &b.up}, {&a.down, &b.down}};
    for (const auto& [wa, wb] : pairs) {
      const int64_t k = wa->w.k;
      const int64_t n = wa->w.n;
      std::vector<float> x(static_cast<size_t>(n_tokens * k));
      for (auto& v : x) v = normal(rng);
      std::vector<float> ya(static_cast<size_t>(n_tokens * n)), yb(ya.size());
      kernels::QuantizedActs scratch;
      kernels::bitlinear(wa->w, x.data(), n_tokens, ya.data(), scratch, 1);
      kernels::bitlinear(wb->w, x.data(), n_tokens, yb.data(), scratch, 1);
      for (int64_t t = 0; t < n_tokens; ++t)
        min_cos = std::min(min_cos, test::cosine(ya.data() + t * n, yb.data() + t * n, n));
    }
  }
  std::printf("  28 BitLinears, TQ2_0 vs I2_S copy, 4 random rows each: min cos %.7f\n", min_cos);
  EXPECT_GE(min_cos, 0.999);
}

// The whole model: the int8 rounding differences compound through 28 re-quantizations of a chaotic
// random model, so individual positions land near cos 0.999 (like the fixtures' "fp32 without Q8_K"
// calibration); the figures are printed, and the bulk must stay within 0.999.
TEST(ForwardDecode, SameWeightsAsI2SAgreeWholeModel) {
  const auto tq = load_fixture_model("tiny-bitnet-tq2_0.gguf");
  const auto i2s = Model::load(write_i2s_copy(test::fixture("tiny-bitnet-tq2_0.gguf")));
  std::vector<std::string> prompts = {"tiny-bitnet-tq2_0.p5", "tiny-bitnet-tq2_0.p1"};
  test::trim_for_sanitizers(prompts, 1);
  for (const auto& prompt : prompts) {
    const auto cases = test::load_golden_cases("golden-upstream", prompt);
    ASSERT_EQ(cases.size(), 1u);
    const auto& gc = cases[0];
    Context a(tq, options(Numerics::Reference));
    Context b(i2s, options(Numerics::Reference));
    a.eval(gc.tokens, true);
    b.eval(gc.tokens, true);
    const auto stats = test::compare_logits(b.logits().data(), a.logits().data(),
                                            static_cast<int64_t>(gc.tokens.size()), a.n_vocab());
    stats.print(gc.name + " I2_S copy vs TQ2_0");
    EXPECT_GE(stats.median_cos, 0.999) << gc.name;
    EXPECT_GE(stats.min_cos, 0.998) << gc.name;
    EXPECT_EQ(stats.argmax_required_agree, stats.argmax_required) << gc.name;
  }
}

}  // namespace
}  // namespace bitnet
