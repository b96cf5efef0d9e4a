// crossval-per-token's pieces without a model: the metrics against hand-computed values, the
// token-mismatch rule, the one divergence rule, and the runner's batching and continuation logic
// over scripted backends.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "bitnet/error.hpp"
#include "crossval/metrics.hpp"
#include "crossval/per_token.hpp"
#include "crossval/report.hpp"

namespace bitnet::crossval {
namespace {

TEST(CrossvalMetrics, IdenticalRows) {
  const std::vector<float> a = {1, -2, 3, 0.5f, 7, -1};
  const auto m = compare_rows(a, a);
  EXPECT_NEAR(m.cosine, 1.0, 1e-15);
  EXPECT_EQ(m.l2, 0.0);
  EXPECT_EQ(m.max_abs_diff, 0.0);
  EXPECT_EQ(m.kl, 0.0);
  EXPECT_EQ(m.argmax_a, 4);
  EXPECT_EQ(m.argmax_b, 4);
  EXPECT_EQ(m.top5_overlap, 5);
}

TEST(CrossvalMetrics, KnownValues) {
  const std::vector<float> a = {1, 0, 0, 0, 0, 0};
  const std::vector<float> b = {0, 1, 0, 0, 0, 0};
  const auto m = compare_rows(a, b);
  EXPECT_EQ(m.cosine, 0.0);
  EXPECT_NEAR(m.l2, std::sqrt(2.0), 1e-15);
  EXPECT_EQ(m.max_abs_diff, 1.0);
  EXPECT_EQ(m.argmax_a, 0);
  EXPECT_EQ(m.argmax_b, 1);
  // top5 of a: 0 then the first zeros 1,2,3,4; of b: 1 then 0,2,3,4 -> same set
  EXPECT_EQ(m.top5_overlap, 5);
  // KL(p||q) with p = softmax(b), q = softmax(a): sum p (log p - log q) = (e - 1) / (e + 5)
  const double e = std::exp(1.0);
  EXPECT_NEAR(m.kl, (e - 1) / (e + 5), 1e-12);
}

TEST(CrossvalMetrics, CosineOfScaledRowIsOneButKlIsNot) {
  const std::vector<float> a = {1, 2, 3};
  const std::vector<float> b = {2, 4, 6};
  const auto m = compare_rows(a, b);
  EXPECT_NEAR(m.cosine, 1.0, 1e-15);
  EXPECT_GT(m.kl, 0.1);
  EXPECT_EQ(m.max_abs_diff, 3.0);
}

TEST(CrossvalMetrics, NanIsNeverWithinTolerance) {
  const std::vector<float> a = {1, std::numeric_limits<float>::quiet_NaN(), 3};
  const std::vector<float> b = {1, 2, 3};
  const auto m = compare_rows(a, b);
  EXPECT_TRUE(std::isnan(m.cosine));
  EXPECT_FALSE(m.cosine >= 0.999);
}

TEST(CrossvalMetrics, ZeroRowsAndLengthMismatch) {
  const std::vector<float> z = {0, 0, 0};
  const std::vector<float> one = {0, 1, 0};
  EXPECT_EQ(compare_rows(z, z).cosine, 1.0);
  EXPECT_EQ(compare_rows(z, one).cosine, 0.0);
  const std::vector<float> two = {1, 2};
  EXPECT_THROW(compare_rows(one, two), Error);
}

TEST(CrossvalMetrics, ArgmaxAndTopKTakeTheFirstOnTies) {
  const std::vector<float> r = {1, 5, 5, 2, 5};
  EXPECT_EQ(argmax(r), 1);
  EXPECT_EQ(top_k(r, 3), (std::vector<int32_t>{1, 2, 4}));
  EXPECT_EQ(top_k(r, 9).size(), 5u);
  EXPECT_EQ(argmax(std::vector<float>{}), -1);
}

TEST(CrossvalTokens, FirstMismatch) {
  EXPECT_FALSE(first_token_mismatch({1, 2, 3}, {1, 2, 3}));
  auto m = first_token_mismatch({1, 2, 3}, {1, 7, 3});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->index, 1);
  EXPECT_EQ(m->id_a, 2);
  EXPECT_EQ(m->id_b, 7);
  m = first_token_mismatch({1, 2}, {1, 2, 3});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->index, 2);
  EXPECT_FALSE(m->id_a);
  EXPECT_EQ(m->id_b, 3);
}

TEST(CrossvalReport, PrintablePiece) {
  EXPECT_EQ(printable_piece("a\nb\t\x01", 10), "a\\nb\\t\\x01");
  EXPECT_EQ(printable_piece("h\xC3\xA9llo", 2), "h\xC3\xA9…");  // whole code points
  EXPECT_EQ(printable_piece("abc", 3), "abc");
}

// A backend whose logits are a function of (position, token): row[v] = sin(pos + v * token),
// optionally bent at one position so the runner must find it.
class ScriptedBackend final : public Backend {
 public:
  ScriptedBackend(std::string name, std::vector<int32_t> tokens, int32_t vocab)
      : name_(std::move(name)), tokens_(std::move(tokens)), vocab_(vocab) {}

  int64_t bend_at = -1;              // position whose row is distorted
  int64_t rows_available = 1 << 30;  // golden-like: no logits past this many positions
  std::vector<int32_t> record;       // golden-like recorded continuation
  int eval_all_calls = 0;
  int eval_last_calls = 0;

  const std::string& name() const override { return name_; }
  int32_t vocab() const override { return vocab_; }
  std::vector<int32_t> tokenize(const std::string&, bool) override { return tokens_; }
  TokenizeSettings tokenize_settings(bool add_bos) const override { return {add_bos, true, "x"}; }
  void eval_all(std::span<const int32_t> tokens, std::vector<float>& logits) override {
    ++eval_all_calls;
    n_past_ = 0;
    logits.clear();
    for (int32_t t : tokens) append_row(t, logits);
  }
  bool eval_last(std::span<const int32_t> tokens, std::vector<float>& logits) override {
    ++eval_last_calls;
    logits.clear();
    for (int32_t t : tokens) {
      logits.clear();
      append_row(t, logits);
    }
    return n_past_ <= rows_available;
  }
  void reset() override { n_past_ = 0; }
  std::vector<int32_t> recorded_continuation() const override { return record; }
  std::optional<std::string> token_piece(int32_t id) const override {
    return "t" + std::to_string(id);
  }

 private:
  void append_row(int32_t token, std::vector<float>& out) {
    for (int32_t v = 0; v < vocab_; ++v) {
      float x = std::sin(static_cast<float>(n_past_) + static_cast<float>(v * (token + 1)) * 0.37f);
      if (n_past_ == bend_at) x = -x;
      out.push_back(x);
    }
    ++n_past_;
  }
  std::string name_;
  std::vector<int32_t> tokens_;
  int32_t vocab_;
  int64_t n_past_ = 0;
};

TEST(CrossvalRunner, IdenticalBackendsPassWithGreedyContinuation) {
  ScriptedBackend a("a", {1, 2, 3}, 16), b("b", {1, 2, 3}, 16);
  PerTokenOptions o;
  o.max_tokens = 4;
  const auto r = run_per_token(a, b, o);
  EXPECT_FALSE(r.mismatch);
  EXPECT_FALSE(r.first_divergent);
  ASSERT_EQ(r.positions.size(), 7u);
  EXPECT_EQ(r.continuation.size(), 4u);
  EXPECT_FALSE(r.continuation_recorded);
  // prompt in one batch, continuation one token at a time, on both sides
  EXPECT_EQ(a.eval_all_calls, 1);
  EXPECT_EQ(b.eval_all_calls, 1);
  EXPECT_EQ(a.eval_last_calls, 4);
  EXPECT_EQ(b.eval_last_calls, 4);
  // greedy: each generated token is A's argmax at the previous position
  for (size_t k = 0; k < r.continuation.size(); ++k) {
    EXPECT_EQ(r.continuation[k], r.positions[2 + k].argmax_a);
  }
  EXPECT_EQ(exit_code(r), 0);
}

TEST(CrossvalRunner, FirstDivergenceIsTheFirstPositionBelowTolerance) {
  ScriptedBackend a("a", {1, 2, 3, 4}, 16), b("b", {1, 2, 3, 4}, 16);
  b.bend_at = 5;  // a generated position
  PerTokenOptions o;
  o.max_tokens = 3;
  const auto r = run_per_token(a, b, o);
  ASSERT_TRUE(r.first_divergent);
  EXPECT_EQ(*r.first_divergent, 5);
  EXPECT_TRUE(r.positions[5].divergent);
  EXPECT_FALSE(r.positions[6].divergent);
  EXPECT_EQ(exit_code(r), 1);
  o.cos_tol = -0.5;  // cos = -1 is still below
  EXPECT_EQ(*run_per_token(a, b, o).first_divergent, 5);
}

TEST(CrossvalRunner, TokenMismatchEvaluatesNothing) {
  ScriptedBackend a("a", {1, 2, 3}, 16), b("b", {1, 9, 3}, 16);
  const auto r = run_per_token(a, b, PerTokenOptions{});
  ASSERT_TRUE(r.mismatch);
  EXPECT_EQ(r.mismatch->index, 1);
  EXPECT_TRUE(r.positions.empty());
  EXPECT_EQ(a.eval_all_calls + b.eval_all_calls, 0);
  EXPECT_EQ(exit_code(r), 2);
}

TEST(CrossvalRunner, RecordedContinuationIsComparedByToken) {
  ScriptedBackend a("a", {1, 2}, 16), b("b", {1, 2}, 16);
  b.rows_available = 2;
  PerTokenOptions o;
  o.max_tokens = 3;
  // Find A's own greedy continuation (one longer than compared), then record it on side B.
  ScriptedBackend probe("p", {1, 2}, 16), probe_b("q", {1, 2}, 16);
  PerTokenOptions longer = o;
  longer.max_tokens = 4;
  const auto greedy = run_per_token(probe, probe_b, longer).continuation;
  ASSERT_EQ(greedy.size(), 4u);
  b.record = greedy;
  auto r = run_per_token(a, b, o);
  EXPECT_TRUE(r.continuation_recorded);
  EXPECT_EQ(r.continuation, std::vector<int32_t>(greedy.begin(), greedy.begin() + 3));
  EXPECT_FALSE(r.first_divergent);
  EXPECT_FALSE(r.positions[2].metrics);
  ASSERT_TRUE(r.positions[2].expected_next);

  b.record[2] = (greedy[2] + 1) % 16;  // B "generated" something else after position 3
  r = run_per_token(a, b, o);
  ASSERT_TRUE(r.first_divergent);
  EXPECT_EQ(*r.first_divergent, 3);
}

TEST(CrossvalRunner, RecordWithoutContinuationStopsGeneration) {
  ScriptedBackend a("a", {1, 2}, 16), b("b", {1, 2}, 16);
  b.rows_available = 2;
  const auto r = run_per_token(a, b, PerTokenOptions{});
  EXPECT_EQ(r.positions.size(), 2u);
  EXPECT_TRUE(r.continuation.empty());
  EXPECT_FALSE(r.first_divergent);
}

TEST(CrossvalRunner, VocabularyMismatchIsAnError) {
  ScriptedBackend a("a", {1, 2}, 16), b("b", {1, 2}, 17);
  EXPECT_THROW(run_per_token(a, b, PerTokenOptions{}), Error);
}

}  // namespace
}  // namespace bitnet::crossval
