// Sampler, stop-sequence matcher and GenerationConfig validation (no model needed).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "bitnet/generation.hpp"
#include "generate/sampler.hpp"
#include "generate/stop_matcher.hpp"

namespace bitnet::generate {
namespace {

std::vector<float> random_logits(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

GenerationConfig sampling(float temperature) {
  GenerationConfig c;
  c.temperature = temperature;
  c.top_k = 0;
  c.top_p = 1.0f;
  c.min_p = 0.0f;
  c.seed = 1234;
  return c;
}

// Draw frequencies of `n` samples from the same logits.
std::map<TokenId, int> histogram(const GenerationConfig& config, const std::vector<float>& logits,
                                 int n) {
  Sampler sampler(config);
  std::map<TokenId, int> counts;
  for (int i = 0; i < n; ++i) ++counts[sampler.sample(logits, {})];
  return counts;
}

TEST(GenerateSampler, ArgmaxTakesTheFirstMaximum) {
  EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1);
  EXPECT_EQ(argmax(std::vector<float>{-5}), 0);
  EXPECT_EQ(argmax(std::vector<float>{-1, -1, -1}), 0);
}

TEST(GenerateSampler, GreedyIsArgmax) {
  Sampler sampler(GenerationConfig::greedy());
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const auto logits = random_logits(1000, seed);
    EXPECT_EQ(sampler.sample(logits, {}), argmax(logits));
  }
}

TEST(GenerateSampler, TopKOneIsGreedyAtAnyTemperature) {
  auto config = sampling(1.5f);
  config.top_k = 1;
  Sampler sampler(config);
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const auto logits = random_logits(5000, seed);
    EXPECT_EQ(sampler.sample(logits, {}), argmax(logits));
  }
}

TEST(GenerateSampler, SameSeedSameTokensOtherSeedOthers) {
  const auto logits = random_logits(32000, 7);
  std::vector<float> flat(32000, 0.0f);  // every token equally likely
  auto config = sampling(1.0f);
  Sampler a(config), b(config);
  config.seed = 99;
  Sampler c(config);
  std::vector<TokenId> ta, tb, tc;
  for (int i = 0; i < 50; ++i) {
    ta.push_back(a.sample(flat, {}));
    tb.push_back(b.sample(flat, {}));
    tc.push_back(c.sample(flat, {}));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
  EXPECT_EQ(a.seed(), 1234u);
}

TEST(GenerateSampler, RandomSeedIsReportedAndReusable) {
  auto config = sampling(1.0f);
  config.seed = kRandomSeed;
  Sampler a(config);
  config.seed = a.seed();
  Sampler b(config);
  std::vector<float> flat(1000, 0.0f);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.sample(flat, {}), b.sample(flat, {}));
}

TEST(GenerateSampler, UniformDrawIsInUnitIntervalAndUnbiased) {
  Sampler sampler(sampling(1.0f));
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = sampler.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
}

TEST(GenerateSampler, FrequenciesFollowTheTemperedSoftmax) {
  const std::vector<float> logits{0.0f, 1.0f, 2.0f, -1.0f};
  for (float temperature : {0.5f, 1.0f, 2.0f}) {
    const int n = 40000;
    const auto counts = histogram(sampling(temperature), logits, n);
    double z = 0;
    for (float l : logits) z += std::exp(l / temperature);
    for (size_t i = 0; i < logits.size(); ++i) {
      const double p = std::exp(logits[i] / temperature) / z;
      const double f = counts.count(static_cast<TokenId>(i))
                           ? counts.at(static_cast<TokenId>(i)) / static_cast<double>(n)
                           : 0.0;
      EXPECT_NEAR(f, p, 4 * std::sqrt(p * (1 - p) / n) + 1e-4)
          << "token " << i << " at temperature " << temperature;
    }
  }
}

TEST(GenerateSampler, TopKKeepsTheKBest) {
  const std::vector<float> logits{5, 1, 4, 3, 2};
  auto config = sampling(10.0f);  // nearly flat: every kept token shows up
  config.top_k = 2;
  const auto counts = histogram(config, logits, 2000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_TRUE(counts.count(0) && counts.count(2));
}

TEST(GenerateSampler, TopPKeepsTheSmallestPrefixReachingP) {
  // probabilities 0.5, 0.3, 0.2 (at temperature 1, where top-p measures them)
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  auto config = sampling(1.0f);
  config.top_p = 0.6f;  // 0.5 < 0.6 <= 0.8: tokens 0 and 1
  auto counts = histogram(config, logits, 3000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_FALSE(counts.count(2));
  config.top_p = 0.5f;  // token 0 alone reaches 0.5
  counts = histogram(config, logits, 500);
  EXPECT_EQ(counts.size(), 1u);
  EXPECT_TRUE(counts.count(0));
}

TEST(GenerateSampler, MinPDropsTokensBelowAFractionOfTheBest) {
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  auto config = sampling(1.0f);
  config.min_p = 0.5f;  // keeps p >= 0.25: tokens 0 and 1
  const auto counts = histogram(config, logits, 3000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_FALSE(counts.count(2));
}

TEST(GenerateSampler, TopPThenMinPAsLlamaCpp) {
  // p = 0.4, 0.3, 0.2, 0.1: top-p 0.85 keeps three, min-p 0.6 then keeps p >= 0.24: two.
  const std::vector<float> logits{std::log(0.4f), std::log(0.3f), std::log(0.2f), std::log(0.1f)};
  auto config = sampling(1.0f);
  config.top_p = 0.85f;
  config.min_p = 0.6f;
  const auto counts = histogram(config, logits, 3000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_TRUE(counts.count(0) && counts.count(1));
}

TEST(GenerateSampler, RepeatPenaltyOverTheWindow) {
  std::vector<float> logits{2.0f, 1.9f, -1.0f, 0.0f};
  auto config = GenerationConfig::greedy();
  config.repeat_penalty = 1.5f;
  config.repeat_last_n = 2;
  Sampler sampler(config);
  const std::vector<TokenId> recent0{3, 0};
  EXPECT_EQ(sampler.sample(logits, recent0), 1);  // 2.0 / 1.5 < 1.9
  const std::vector<TokenId> old0{0, 3, 2};       // token 0 is outside the last 2
  EXPECT_EQ(sampler.sample(logits, old0), 0);
  // A negative logit is multiplied: token 2 falls further behind token 3.
  const std::vector<float> negative{-1.0f, -2.0f, -1.2f};
  const std::vector<TokenId> recent_first{0};
  EXPECT_EQ(sampler.sample(negative, recent_first), 2);  // -1.5 < -1.2
  config.repeat_last_n = -1;                             // the whole history
  Sampler whole(config);
  EXPECT_EQ(whole.sample(logits, old0), 1);
  // Repeats inside the window are penalized once.
  config.repeat_last_n = 0;
  Sampler off(config);
  EXPECT_EQ(off.sample(logits, recent0), 0);
}

TEST(GenerateSampler, FrequencyAndPresencePenaltiesAsOpenAI) {
  // logit -= count * frequency + presence, per distinct token of the window.
  const std::vector<float> logits{2.0f, 1.5f, 1.0f};
  auto config = GenerationConfig::greedy();
  config.repeat_last_n = 8;
  config.frequency_penalty = 0.3f;
  Sampler freq(config);
  const std::vector<TokenId> once{0};
  EXPECT_EQ(freq.sample(logits, once), 0);  // 2.0 - 0.3 > 1.5
  const std::vector<TokenId> twice{0, 0};
  EXPECT_EQ(freq.sample(logits, twice), 1);  // 2.0 - 0.6 < 1.5
  config.frequency_penalty = 0.0f;
  config.presence_penalty = 0.6f;
  Sampler presence(config);
  EXPECT_EQ(presence.sample(logits, once), 1);  // 2.0 - 0.6 < 1.5
  const std::vector<TokenId> both{0, 0, 0, 1};
  EXPECT_EQ(presence.sample(logits, both), 0);  // 1.4 vs 0.9 vs 1.0: counts do not matter
  config.presence_penalty = -1.2f;              // negative: encourages repeats
  Sampler encourage(config);
  const std::vector<TokenId> two{2};
  EXPECT_EQ(encourage.sample(logits, two), 2);  // 1.0 + 1.2 > 2.0
  config.presence_penalty = 2.5f;
  EXPECT_THROW(Sampler bad(config), Error);
}

TEST(GenerateStopMatcher, StopSplitAcrossPiecesIsHeldBackAndNotEmitted) {
  const std::vector<std::string> stops{"STOP"};
  StopMatcher m(stops);
  EXPECT_EQ(m.push("hello S"), "hello ");  // "S" could start STOP
  EXPECT_EQ(m.push("T"), "");
  EXPECT_EQ(m.push("OP and more"), "");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.matched_sequence(), "STOP");
  EXPECT_EQ(m.push("later"), "");
}

TEST(GenerateStopMatcher, FalseStartIsReleased) {
  const std::vector<std::string> stops{"STOP"};
  StopMatcher m(stops);
  EXPECT_EQ(m.push("ST"), "");
  EXPECT_EQ(m.push("ep"), "STep");
  EXPECT_EQ(m.push("xS"), "x");
  EXPECT_EQ(m.flush(), "S");
  EXPECT_FALSE(m.matched());
}

TEST(GenerateStopMatcher, EarliestOfSeveralWins) {
  const std::vector<std::string> stops{"world", "lo w", "\n\n"};
  StopMatcher m(stops);
  EXPECT_EQ(m.push("hel"), "he");  // "l" could start "lo w"
  EXPECT_EQ(m.push("lo world"), "l");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.matched_sequence(), "lo w");
}

TEST(GenerateStopMatcher, NoStopsPassesEverything) {
  StopMatcher m({});
  EXPECT_EQ(m.push("abc"), "abc");
  EXPECT_EQ(m.flush(), "");
}

TEST(GenerateStopMatcher, MultiByteStopKeepsCharactersWhole) {
  const std::vector<std::string> stops{"日本"};
  StopMatcher m(stops);
  EXPECT_EQ(m.push("a日"), "a");
  EXPECT_EQ(m.push("x"), "日x");
  EXPECT_EQ(m.push("日本語"), "");
  EXPECT_TRUE(m.matched());
}

void expect_rejected(const GenerationConfig& config, const std::string& field) {
  try {
    config.validate();
    FAIL() << "accepted a bad " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::config);
    EXPECT_NE(std::string(e.what()).find("GenerationConfig." + field), std::string::npos)
        << e.what();
  }
}

TEST(GenerateConfig, ValidationNamesTheField) {
  GenerationConfig c;
  c.temperature = -0.1f;
  expect_rejected(c, "temperature");
  c = {};
  c.temperature = NAN;
  expect_rejected(c, "temperature");
  c = {};
  c.top_p = 0.0f;
  expect_rejected(c, "top_p");
  c.top_p = 1.5f;
  expect_rejected(c, "top_p");
  c = {};
  c.top_k = -1;
  expect_rejected(c, "top_k");
  c = {};
  c.min_p = 1.01f;
  expect_rejected(c, "min_p");
  c = {};
  c.repeat_penalty = 0.0f;
  expect_rejected(c, "repeat_penalty");
  c = {};
  c.repeat_last_n = -2;
  expect_rejected(c, "repeat_last_n");
  c = {};
  c.max_new_tokens = -5;
  expect_rejected(c, "max_new_tokens");
  c = {};
  c.stop = {"ok", ""};
  expect_rejected(c, "stop[1]");
  c = {};
  c.n_keep = -3;
  expect_rejected(c, "n_keep");
}

TEST(GenerateConfig, PresetsAreValid) {
  EXPECT_NO_THROW(GenerationConfig{}.validate());
  EXPECT_NO_THROW(GenerationConfig::greedy().validate());
  EXPECT_NO_THROW(GenerationConfig::balanced().validate());
  EXPECT_NO_THROW(GenerationConfig::creative().validate());
  EXPECT_EQ(GenerationConfig::greedy().temperature, 0.0f);
  EXPECT_GT(GenerationConfig::creative().temperature, GenerationConfig::balanced().temperature);
}

TEST(GenerateConfig, SamplerRejectsABadConfig) {
  GenerationConfig c;
  c.top_p = 2.0f;
  EXPECT_THROW(Sampler{c}, Error);
}

}  // namespace
}  // namespace bitnet::generate
