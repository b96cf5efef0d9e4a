// The session ABI over our engine against the references' goldens: eval_all meets the forward-pass
// parity criterion, eval_last one token at a time reproduces the recorded greedy continuations,
// and prefill + eval_last agrees with eval_all. (Error codes are covered by tests/c/capi_test.c.)
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bitnet/crossval_session.h"
#include "forward_test_support.hpp"

namespace bitnet::test {
namespace {

class Session {
 public:
  explicit Session(const std::string& model, int32_t n_ctx = 256) {
    char err[512] = {};
    rc_ = crossval_bitnet_open(model.c_str(), n_ctx, &handle_, err, sizeof err);
    error_ = err;
    if (rc_ == 0) crossval_bitnet_vocab_size(handle_, &vocab_);
  }
  ~Session() {
    if (handle_ != nullptr) crossval_bitnet_close(handle_);
  }
  bool ok() const { return rc_ == 0; }
  const std::string& error() const { return error_; }
  void* get() const { return handle_; }
  int32_t vocab() const { return vocab_; }

  std::vector<float> eval_all(const std::vector<int32_t>& tokens) {
    std::vector<float> logits(tokens.size() * static_cast<size_t>(vocab_));
    int32_t rows = 0, cols = 0;
    char err[512] = {};
    const auto n = static_cast<int32_t>(tokens.size());
    EXPECT_EQ(crossval_bitnet_eval_all(handle_, tokens.data(), n, logits.data(), n, &rows, &cols,
                                       err, sizeof err),
              0)
        << err;
    EXPECT_EQ(rows, n);
    EXPECT_EQ(cols, vocab_);
    return logits;
  }
  std::vector<float> eval_last(const int32_t* tokens, int32_t n) {
    std::vector<float> logits(static_cast<size_t>(vocab_));
    char err[512] = {};
    EXPECT_EQ(crossval_bitnet_eval_last(handle_, tokens, n, logits.data(), vocab_, err, sizeof err),
              0)
        << err;
    return logits;
  }
  void prefill(const int32_t* tokens, int32_t n) {
    char err[512] = {};
    EXPECT_EQ(crossval_bitnet_prefill(handle_, tokens, n, err, sizeof err), 0) << err;
  }

 private:
  void* handle_ = nullptr;
  int rc_ = -100;
  int32_t vocab_ = 0;
  std::string error_;
};

std::vector<GoldenCase> cases_or_skip(const std::string& dir, const std::string& prefix) {
  if (!std::filesystem::exists(fixtures_dir() / dir)) return {};
  auto cases = load_golden_cases(dir, prefix);
  trim_for_sanitizers(cases, 1);  // every rule still runs; the default build checks all cases
  return cases;
}

void expect_eval_all_parity(const std::string& dir, const std::string& prefix) {
  const auto cases = cases_or_skip(dir, prefix);
  if (cases.empty()) GTEST_SKIP() << "no golden cases in " << (fixtures_dir() / dir);
  Session session(cases.front().model);
  ASSERT_TRUE(session.ok()) << session.error();
  for (const auto& c : cases) {
    ASSERT_EQ(session.vocab(), c.n_vocab);
    const auto logits = session.eval_all(c.tokens);
    const auto stats = compare_logits(logits.data(), c.logits.data(),
                                      static_cast<int64_t>(c.tokens.size()), c.n_vocab);
    stats.print(c.name);
    EXPECT_TRUE(stats.passes()) << c.name;
  }
}

TEST(CapiSession, EvalAllMatchesBitnetCppGoldens) {
  expect_eval_all_parity("golden", "tiny-b158-i2s");
}
TEST(CapiSession, EvalAllMatchesUpstreamGoldensTQ2_0) {
  expect_eval_all_parity("golden-upstream", "tiny-bitnet-tq2_0");
}
TEST(CapiSession, EvalAllMatchesUpstreamGoldensTQ1_0) {
  expect_eval_all_parity("golden-upstream", "tiny-bitnet-tq1_0");
}

// The reference's greedy run: the prompt in one batch, then one decode call per token.
TEST(CapiSession, EvalLastReproducesGreedyContinuations) {
  const auto cases = cases_or_skip("golden", "tiny-b158-i2s");
  if (cases.empty()) GTEST_SKIP() << "no golden cases";
  Session session(cases.front().model);
  ASSERT_TRUE(session.ok()) << session.error();
  int checked = 0;
  for (const auto& c : cases) {
    if (c.greedy.empty()) continue;
    ASSERT_EQ(crossval_bitnet_reset(session.get()), 0);
    auto logits = session.eval_last(c.tokens.data(), static_cast<int32_t>(c.tokens.size()));
    std::vector<int32_t> ours;
    for (size_t i = 0; i < c.greedy.size(); ++i) {
      const auto next = static_cast<int32_t>(argmax(logits.data(), session.vocab()));
      ours.push_back(next);
      if (i + 1 < c.greedy.size()) logits = session.eval_last(&next, 1);
    }
    EXPECT_EQ(ours, c.greedy) << c.name;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// prefill(tokens[0..k)) + eval_last one token at a time vs one eval_all batch.
void expect_incremental_agrees(const std::string& dir, const std::string& prefix) {
  const auto cases = cases_or_skip(dir, prefix);
  if (cases.empty()) GTEST_SKIP() << "no golden cases";
  Session session(cases.front().model);
  ASSERT_TRUE(session.ok()) << session.error();
  double worst = 1.0;
  std::string worst_at;
  for (const auto& c : cases) {
    const auto n = static_cast<int32_t>(c.tokens.size());
    const auto batch = session.eval_all(c.tokens);
    for (const int32_t k : {1, n / 2}) {
      ASSERT_EQ(crossval_bitnet_reset(session.get()), 0);
      session.prefill(c.tokens.data(), k);
      for (int32_t pos = k; pos < n; ++pos) {
        const auto row = session.eval_last(&c.tokens[static_cast<size_t>(pos)], 1);
        const double cos = cosine(row.data(), batch.data() + static_cast<size_t>(pos) * row.size(),
                                  session.vocab());
        EXPECT_GE(cos, 0.999) << c.name << " k=" << k << " pos=" << pos;
        if (cos < worst) {
          worst = cos;
          worst_at = c.name + " k=" + std::to_string(k) + " pos=" + std::to_string(pos);
        }
      }
      int32_t n_past = 0;
      ASSERT_EQ(crossval_bitnet_n_past(session.get(), &n_past), 0);
      EXPECT_EQ(n_past, n);
    }
  }
  std::printf("  prefill + eval_last vs eval_all (%s): worst cosine %.7f at %s\n", prefix.c_str(),
              worst, worst_at.c_str());
}

TEST(CapiSession, PrefillThenEvalLastAgreesWithEvalAllI2S) {
  expect_incremental_agrees("golden", "tiny-b158-i2s");
}
TEST(CapiSession, PrefillThenEvalLastAgreesWithEvalAllTQ2_0) {
  expect_incremental_agrees("golden-upstream", "tiny-bitnet-tq2_0");
}

}  // namespace
}  // namespace bitnet::test
