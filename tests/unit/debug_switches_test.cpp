// The seed's debugging switches through the public APIs: BITNET_TRACE_DIR traces a C++ Engine and a
// C context (not only crossval-per-token), BITNET_DETERMINISTIC pins one thread and a seed,
// BITNET_SEED sets the seed of a "random" generation, and the streaming-logits callbacks of both
// APIs hand over exactly the rows bitnet_eval computes for the same tokens.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bitnet/bitnet.h"
#include "bitnet/bitnet.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

// Sets an environment variable for one test and restores the previous state.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_.empty()) {
      ::unsetenv(name_);
    } else {
      ::setenv(name_, old_.c_str(), 1);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::string old_;
};

fs::path fresh_dir(const std::string& name) {
  const auto dir = bitnet::test::scratch_dir() / name;
  fs::remove_all(dir);
  return dir;
}

// The trace files in dir and the number of eval calls (distinct seq values) of the only one.
std::vector<fs::path> traces_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".jsonl") files.push_back(e.path());
  return files;
}

int max_seq(const fs::path& jsonl) {
  std::ifstream in(jsonl);
  int best = -1;
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find("\"seq\":");
    if (at != std::string::npos) best = std::max(best, std::atoi(line.c_str() + at + 6));
  }
  return best;
}

const std::string kModel = bitnet::test::fixture("tiny-b158-i2s.gguf");

TEST(DebugSwitches, TraceDirTracesTheCppApi) {
  const auto dir = fresh_dir("trace_cpp_api");
  ScopedEnv trace("BITNET_TRACE_DIR", dir.string());
  auto model = bitnet::Model::load(kModel);
  bitnet::EngineConfig config;
  config.n_threads = 1;
  bitnet::Engine engine(model, config);
  auto gen = bitnet::GenerationConfig::greedy();
  gen.max_new_tokens = 3;
  (void)engine.generate("Hello", gen);
  const auto files = traces_in(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(max_seq(files[0]), 2);  // prefill + 2 decode steps (the third token is not evaluated)
}

TEST(DebugSwitches, TraceDirTracesTheCApi) {
  const auto dir = fresh_dir("trace_c_api");
  ScopedEnv trace("BITNET_TRACE_DIR", dir.string());
  ScopedEnv filter("BITNET_TRACE_FILTER", "*:logits");
  bitnet_model* model = nullptr;
  ASSERT_EQ(bitnet_model_load(kModel.c_str(), nullptr, &model), BITNET_OK) << bitnet_last_error();
  bitnet_context* ctx = nullptr;
  ASSERT_EQ(bitnet_context_create(model, nullptr, &ctx), BITNET_OK) << bitnet_last_error();
  const bitnet_token tokens[] = {128000, 9906, 1917};
  ASSERT_EQ(bitnet_eval(ctx, tokens, 3, true), BITNET_OK) << bitnet_last_error();
  ASSERT_EQ(bitnet_eval(ctx, tokens, 1, false), BITNET_OK) << bitnet_last_error();
  bitnet_context_free(ctx);
  bitnet_model_free(model);
  const auto files = traces_in(dir);
  ASSERT_EQ(files.size(), 1u);
  std::ifstream in(files[0]);
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines)
    EXPECT_NE(line.find("\"stage\":\"logits\""), std::string::npos) << line;
  EXPECT_EQ(lines, 4);  // 3 rows of the first eval + 1 of the second
  EXPECT_EQ(max_seq(files[0]), 1);
}

TEST(DebugSwitches, NoTraceWithoutTheVariable) {
  ::unsetenv("BITNET_TRACE_DIR");
  const auto dir = fresh_dir("trace_off");
  auto model = bitnet::Model::load(kModel);
  bitnet::Engine engine(model);
  auto gen = bitnet::GenerationConfig::greedy();
  gen.max_new_tokens = 2;
  (void)engine.generate("Hello", gen);
  EXPECT_TRUE(traces_in(dir).empty());
}

TEST(DebugSwitches, DeterministicPinsOneThreadAndASeed) {
  ScopedEnv deterministic("BITNET_DETERMINISTIC", "1");
  ::unsetenv("BITNET_SEED");
  auto model = bitnet::Model::load(kModel);
  bitnet::EngineConfig config;
  config.n_threads = 2;
  bitnet::Engine engine(model, config);
  EXPECT_EQ(engine.stats().n_threads, 1);
  bitnet::GenerationConfig gen;  // sampled, seed = kRandomSeed
  gen.max_new_tokens = 4;
  const auto first = engine.generate("Once upon a time", gen);
  EXPECT_EQ(first.seed, 42u);
  engine.clear_cache();
  const auto second = engine.generate("Once upon a time", gen);
  EXPECT_EQ(first.text, second.text);
  {
    ScopedEnv seed("BITNET_SEED", "7");
    EXPECT_EQ(engine.generate("Once upon a time", gen).seed, 7u);
    gen.seed = 3;  // an explicit seed beats the variable
    EXPECT_EQ(engine.generate("Once upon a time", gen).seed, 3u);
  }
}

TEST(DebugSwitches, BadSeedVariableIsIgnored) {
  ::unsetenv("BITNET_DETERMINISTIC");
  auto model = bitnet::Model::load(kModel);
  bitnet::Engine engine(model);
  bitnet::GenerationConfig gen;
  gen.max_new_tokens = 1;
  ScopedEnv seed("BITNET_SEED", "12abc");
  testing::internal::CaptureStderr();
  (void)engine.generate("Hi", gen);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("BITNET_SEED='12abc'"), std::string::npos) << err;
}

// Reference rows: one batch over `tokens` in a fast-numerics C context (batch-invariant, so they
// equal the rows of a prompt batch followed by one-token decode steps).
std::vector<float> eval_rows(bitnet_model* model, const std::vector<bitnet_token>& tokens) {
  bitnet_context_params params = bitnet_context_default_params();
  params.numerics = BITNET_NUMERICS_FAST;
  params.n_threads = 1;
  bitnet_context* ctx = nullptr;
  EXPECT_EQ(bitnet_context_create(model, &params, &ctx), BITNET_OK);
  EXPECT_EQ(bitnet_eval(ctx, tokens.data(), static_cast<int32_t>(tokens.size()), true), BITNET_OK)
      << bitnet_last_error();
  const int32_t n_vocab = bitnet_model_n_vocab(model);
  std::vector<float> rows;
  for (int32_t i = 0; i < static_cast<int32_t>(tokens.size()); ++i) {
    const float* row = bitnet_get_logits(ctx, i);
    rows.insert(rows.end(), row, row + n_vocab);
  }
  bitnet_context_free(ctx);
  return rows;
}

struct Captured {
  std::vector<bitnet_token> tokens;
  std::vector<float> rows;
  int32_t n_vocab = 0;
};

// Row k of the callback was computed after prompt + generated[0..k-1]: position n_prompt - 1 + k.
void expect_rows_equal(const Captured& got, const std::vector<float>& expected, size_t n_prompt) {
  const size_t v = static_cast<size_t>(got.n_vocab);
  for (size_t k = 0; k < got.tokens.size(); ++k) {
    const float* want = expected.data() + (n_prompt - 1 + k) * v;
    EXPECT_EQ(std::memcmp(got.rows.data() + k * v, want, v * sizeof(float)), 0) << "row " << k;
  }
}

TEST(LogitsCallback, CApiRowsEqualEvalRows) {
  bitnet_model* model = nullptr;
  ASSERT_EQ(bitnet_model_load(kModel.c_str(), nullptr, &model), BITNET_OK);
  bitnet_context_params params = bitnet_context_default_params();
  params.numerics = BITNET_NUMERICS_FAST;
  params.n_threads = 1;
  bitnet_context* ctx = nullptr;
  ASSERT_EQ(bitnet_context_create(model, &params, &ctx), BITNET_OK);

  Captured got;
  bitnet_generate_params gp = bitnet_generate_default_params();
  gp.max_new_tokens = 5;
  gp.sampling.temperature = 0;
  gp.on_logits = [](bitnet_token token, const float* logits, int32_t n_vocab, void* user) {
    auto* c = static_cast<Captured*>(user);
    c->tokens.push_back(token);
    c->rows.insert(c->rows.end(), logits, logits + n_vocab);
    c->n_vocab = n_vocab;
  };
  gp.logits_user_data = &got;
  bitnet_generate_result result{};
  ASSERT_EQ(bitnet_generate(ctx, "The quick brown fox", &gp, &result), BITNET_OK)
      << bitnet_last_error();
  ASSERT_EQ(got.n_vocab, bitnet_model_n_vocab(model));
  ASSERT_EQ(static_cast<int32_t>(got.tokens.size()),
            result.n_generated + (result.finish_reason == BITNET_FINISH_EOG ? 1 : 0));
  ASSERT_GE(got.tokens.size(), 2u);

  std::vector<bitnet_token> tokens(64);
  int32_t n = 0;
  ASSERT_EQ(bitnet_tokenize(model, "The quick brown fox", true, true, tokens.data(), 64, &n),
            BITNET_OK);
  tokens.resize(static_cast<size_t>(n));
  const size_t n_prompt = tokens.size();
  // Row k was computed after prompt + generated[0..k-1]; it chose generated[k].
  tokens.insert(tokens.end(), got.tokens.begin(), got.tokens.end() - 1);
  expect_rows_equal(got, eval_rows(model, tokens), n_prompt);
  bitnet_context_free(ctx);
  bitnet_model_free(model);
}

TEST(LogitsCallback, CppApiRowsEqualEvalRows) {
  auto model = bitnet::Model::load(kModel);
  bitnet::EngineConfig config;
  config.n_threads = 1;
  config.reference_numerics = false;
  bitnet::Engine engine(model, config);
  Captured got;
  auto gen = bitnet::GenerationConfig::greedy();
  gen.max_new_tokens = 4;
  gen.on_logits = [&](int32_t token, std::span<const float> row) {
    got.tokens.push_back(token);
    got.rows.insert(got.rows.end(), row.begin(), row.end());
    got.n_vocab = static_cast<int32_t>(row.size());
  };
  const auto result = engine.generate("Once upon a time", gen);
  ASSERT_EQ(got.tokens.size(),
            result.tokens.size() + (result.finish_reason == bitnet::FinishReason::eos ? 1 : 0));
  for (size_t k = 0; k < result.tokens.size(); ++k) EXPECT_EQ(got.tokens[k], result.tokens[k]);

  auto tokens = model.tokenize("Once upon a time");
  const size_t n_prompt = tokens.size();
  tokens.insert(tokens.end(), got.tokens.begin(), got.tokens.end() - 1);
  bitnet_model* c_model = nullptr;
  ASSERT_EQ(bitnet_model_load(kModel.c_str(), nullptr, &c_model), BITNET_OK);
  expect_rows_equal(got, eval_rows(c_model, tokens), n_prompt);
  bitnet_model_free(c_model);
}

}  // namespace
