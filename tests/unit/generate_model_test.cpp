// Generator on the tiny I2_S fixture model: greedy against arg-max stepping of the logits API,
// top-k 1, stop sequences across tokens, EOS/EOT, context-full policies, prompt-cache reuse,
// streaming.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "generate/generator.hpp"
#include "gguf/gguf.hpp"
#include "gguf/gguf_writer.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::generate {
namespace {

struct Loaded {
  std::shared_ptr<const Model> model;
  tokenizer::Tokenizer tokenizer;
};

std::unique_ptr<Loaded> load(const std::string& path) {
  auto model = Model::load(path);
  auto tok = tokenizer::Tokenizer::from_gguf(model->file());
  return std::make_unique<Loaded>(Loaded{std::move(model), std::move(tok)});
}

const Loaded& tiny() {
  static const auto loaded = load(test::fixture("tiny-b158-i2s.gguf"));
  return *loaded;
}

ContextOptions small_context(int32_t n_ctx = 256) {
  ContextOptions o;
  o.n_ctx = n_ctx;
  o.n_threads = 1;
  return o;
}

std::vector<TokenId> prompt_tokens(const std::string& text) {
  return tiny().tokenizer.encode(text, /*add_bos=*/true, /*parse_special=*/true);
}

struct Run {
  std::vector<TokenId> tokens;
  std::vector<std::string> pieces;
  std::string text;
  FinishReason reason = FinishReason::length;
  PerformanceMetrics metrics;
};

Run generate_with(const Loaded& m, Context& ctx, std::vector<TokenId>& cache,
                  const std::vector<TokenId>& prompt, const GenerationConfig& config) {
  Generator gen(ctx, m.tokenizer, cache, prompt, config);
  Run run;
  std::string piece;
  while (gen.next(piece)) {
    run.pieces.push_back(piece);
    run.text += piece;
  }
  run.tokens.assign(gen.generated().begin(), gen.generated().end());
  run.reason = gen.finish_reason();
  run.metrics = gen.metrics();
  return run;
}

Run generate_fresh(const std::vector<TokenId>& prompt, const GenerationConfig& config,
                   int32_t n_ctx = 256, const Loaded& m = tiny()) {
  Context ctx(m.model, small_context(n_ctx));
  std::vector<TokenId> cache;
  return generate_with(m, ctx, cache, prompt, config);
}

GenerationConfig greedy(int32_t n) {
  auto c = GenerationConfig::greedy();
  c.max_new_tokens = n;
  return c;
}

// The reference's greedy decoding spelled out with the logits API: the prompt in one batch, then
// one token per eval, arg-max (first maximum) each time.
std::vector<TokenId> argmax_stepping(const std::vector<TokenId>& prompt, int n) {
  Context ctx(tiny().model, small_context());
  ctx.eval(prompt, /*all_logits=*/false);
  std::vector<TokenId> out;
  for (int i = 0; i < n; ++i) {
    const auto logits = ctx.last_logits();
    TokenId best = 0;
    for (size_t v = 1; v < logits.size(); ++v)
      if (logits[v] > logits[static_cast<size_t>(best)]) best = static_cast<TokenId>(v);
    out.push_back(best);
    if (i + 1 < n) ctx.eval(std::vector<TokenId>{best}, false);
  }
  return out;
}

TEST(GenerateModel, GreedyEqualsArgmaxSteppingOfTheLogits) {
  for (const char* text : {"The quick brown fox", "def add(a, b):\n"}) {
    const auto prompt = prompt_tokens(text);
    const auto run = generate_fresh(prompt, greedy(12));
    EXPECT_EQ(run.tokens, argmax_stepping(prompt, 12)) << text;
    EXPECT_EQ(run.reason, FinishReason::length);
    EXPECT_EQ(run.metrics.generated_tokens, 12);
    EXPECT_EQ(run.metrics.decode_steps, 11);  // the last token is not evaluated
    EXPECT_EQ(run.metrics.prompt_tokens_evaluated, static_cast<int32_t>(prompt.size()));
  }
}

TEST(GenerateModel, TopKOneEqualsGreedy) {
  const auto prompt = prompt_tokens("Once upon a time");
  auto config = GenerationConfig::creative();
  config.top_k = 1;
  config.max_new_tokens = 10;
  config.seed = 5;
  config.repeat_penalty = 1.0f;
  EXPECT_EQ(generate_fresh(prompt, config).tokens, generate_fresh(prompt, greedy(10)).tokens);
}

TEST(GenerateModel, FixedSeedReproducesTheText) {
  const auto prompt = prompt_tokens("Once upon a time");
  auto config = GenerationConfig::creative();
  config.max_new_tokens = 10;
  config.seed = 42;
  const auto a = generate_fresh(prompt, config);
  const auto b = generate_fresh(prompt, config);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.text, b.text);
  config.seed = 43;
  EXPECT_NE(generate_fresh(prompt, config).tokens, a.tokens);
}

TEST(GenerateModel, StreamedPiecesAreCompleteUtf8AndSpellTheTokens) {
  // The golden p4 continuation is CJK text whose characters may span tokens.
  const auto prompt = prompt_tokens("Café 東京で🍣 😀👍🏽");
  const auto run = generate_fresh(prompt, greedy(16));
  for (const auto& piece : run.pieces) {
    EXPECT_FALSE(piece.empty());
    // A piece never ends inside a character: its last lead byte has all its continuation bytes.
    size_t i = piece.size();
    while (i > 0 && (static_cast<unsigned char>(piece[i - 1]) & 0xC0) == 0x80) --i;
    ASSERT_GT(i, 0u);
    const auto lead = static_cast<unsigned char>(piece[i - 1]);
    const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    EXPECT_EQ(piece.size() - (i - 1), len) << piece;
  }
  EXPECT_EQ(run.text, tiny().tokenizer.decode(run.tokens));
}

TEST(GenerateModel, StopSequenceSplitAcrossTwoTokensStopsAndIsNotEmitted) {
  const auto prompt = prompt_tokens("The quick brown fox");
  const auto full = generate_fresh(prompt, greedy(16));
  // Find two consecutive tokens with pieces of >= 2 bytes and build a stop that spans them.
  std::string stop;
  size_t boundary = 0;  // byte offset in the text where the second token starts
  std::string spelled;
  for (size_t i = 0; i + 1 < full.tokens.size() && stop.empty(); ++i) {
    const auto& a = tiny().tokenizer.token_to_piece(full.tokens[i]);
    const auto& b = tiny().tokenizer.token_to_piece(full.tokens[i + 1]);
    spelled += a;
    if (i >= 1 && a.size() >= 2 && b.size() >= 2 && (a.back() & 0x80) == 0 && (b[1] & 0x80) == 0 &&
        (b[0] & 0x80) == 0) {
      stop = a.substr(a.size() - 1) + b.substr(0, 2);
      boundary = spelled.size();
    }
  }
  ASSERT_FALSE(stop.empty()) << full.text;
  const size_t first = full.text.find(stop);
  ASSERT_NE(first, std::string::npos);
  ASSERT_LE(first, boundary - 1);

  auto config = greedy(16);
  config.stop = {stop};
  const auto run = generate_fresh(prompt, config);
  EXPECT_EQ(run.reason, FinishReason::stop_sequence);
  EXPECT_EQ(run.text, full.text.substr(0, first));
  for (const auto& piece : run.pieces) EXPECT_EQ(piece.find(stop), std::string::npos);
  EXPECT_LT(run.tokens.size(), full.tokens.size());
}

// A copy of the tiny model whose tokenizer says that `id` is its EOS (or EOT) token.
std::string model_with_end_token(const char* key, TokenId id) {
  const auto source = gguf::GgufFile::open(test::fixture("tiny-b158-i2s.gguf"));
  gguf::GgufWriter writer(source.alignment());
  for (const auto& [name, value] : source.metadata()) {
    if (name != key) writer.copy_key(name, value);
  }
  writer.add_u32(key, static_cast<uint32_t>(id));
  for (const auto& t : source.tensors()) {
    const std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    writer.add_tensor_lazy(t.name, t.type, ne, [&t](uint8_t* dst, int64_t offset, int64_t n) {
      std::memcpy(dst, t.data + offset, static_cast<size_t>(n));
    });
  }
  const auto path = (test::scratch_dir() / (std::string(key) + ".gguf")).string();
  writer.write(path);
  return path;
}

TEST(GenerateModel, EosAndEotEndGeneration) {
  const auto prompt = prompt_tokens("The quick brown fox");
  const auto full = generate_fresh(prompt, greedy(16));
  // The first token that did not occur before: making it the end token cuts the text there.
  size_t cut = 1;
  while (cut < full.tokens.size() &&
         std::find(full.tokens.begin(), full.tokens.begin() + static_cast<std::ptrdiff_t>(cut),
                   full.tokens[cut]) != full.tokens.begin() + static_cast<std::ptrdiff_t>(cut))
    ++cut;
  ASSERT_LT(cut, full.tokens.size());
  const std::vector<TokenId> before(full.tokens.begin(),
                                    full.tokens.begin() + static_cast<std::ptrdiff_t>(cut));
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    const auto path = model_with_end_token(key, full.tokens[cut]);
    const auto variant = load(path);
    std::filesystem::remove(path);  // the mapping stays valid; don't leave 41 MB in /tmp
    ASSERT_TRUE(variant->tokenizer.is_eog(full.tokens[cut])) << key;
    const auto run = generate_fresh(prompt, greedy(16), 256, *variant);
    EXPECT_EQ(run.reason, FinishReason::eos) << key;
    EXPECT_EQ(run.tokens, before) << key;
    EXPECT_EQ(run.text, variant->tokenizer.decode(before)) << key;

    auto config = greedy(16);
    config.ignore_eos = true;
    EXPECT_EQ(generate_fresh(prompt, config, 256, *variant).reason, FinishReason::length) << key;
  }
}

TEST(GenerateModel, ContextFullStopsWithErrorPolicy) {
  const auto prompt = prompt_tokens("Hello there");  // BOS + 2
  const int32_t n_ctx = 10;
  const auto run = generate_fresh(prompt, greedy(50), n_ctx);
  EXPECT_EQ(run.reason, FinishReason::context_full);
  // Every position holds an evaluated token, plus one sampled token that found no room.
  EXPECT_EQ(static_cast<int32_t>(run.tokens.size()),
            n_ctx - static_cast<int32_t>(prompt.size()) + 1);
  EXPECT_EQ(run.tokens, argmax_stepping(prompt, static_cast<int>(run.tokens.size())));

  const std::vector<TokenId> too_long(11, prompt[1]);
  try {
    generate_fresh(too_long, greedy(5), n_ctx);
    FAIL() << "a prompt longer than the context was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::capacity);
    EXPECT_NE(std::string(e.what()).find("11 tokens"), std::string::npos) << e.what();
  }
}

TEST(GenerateModel, ContextShiftKeepsTheStartDropsHalfAndContinues) {
  const auto prompt = prompt_tokens("Hello there my friend");  // BOS + 4
  const int32_t n_ctx = 12;
  auto config = greedy(20);
  config.on_context_full = ContextOverflow::shift;
  config.n_keep = 2;  // BOS + 2 tokens stay
  const auto run = generate_fresh(prompt, config, n_ctx);
  EXPECT_EQ(run.reason, FinishReason::length);
  EXPECT_EQ(run.tokens.size(), 20u);
  EXPECT_GE(run.metrics.context_shifts, 1);

  // The policy spelled out: when a token finds no room, keep the first 3, drop half of the
  // rest, evaluate what is left (with the new token) as one batch from an empty cache.
  Context ctx(tiny().model, small_context(n_ctx));
  std::vector<TokenId> tokens = prompt;
  ctx.eval(tokens, false);
  std::vector<TokenId> expected;
  int shifts = 0;
  while (expected.size() < 20) {
    const auto logits = ctx.last_logits();
    const auto best =
        static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    expected.push_back(best);
    tokens.push_back(best);
    if (expected.size() == 20) break;
    if (ctx.n_past() == n_ctx) {
      const size_t keep = 3, discard = (static_cast<size_t>(n_ctx) - keep) / 2;
      tokens.erase(tokens.begin() + keep, tokens.begin() + keep + discard);
      ctx.reset();
      ctx.eval(tokens, false);
      ++shifts;
    } else {
      ctx.eval(std::vector<TokenId>{best}, false);
    }
  }
  EXPECT_EQ(run.tokens, expected);
  EXPECT_EQ(run.metrics.context_shifts, shifts);
}

TEST(GenerateModel, PromptCacheEvaluatesOnlyTheNewTokens) {
  const auto& m = tiny();
  Context ctx(m.model, small_context());
  std::vector<TokenId> cache;
  const auto prompt = prompt_tokens("The quick brown fox");
  const auto first = generate_with(m, ctx, cache, prompt, greedy(4));
  EXPECT_EQ(first.metrics.prompt_tokens_evaluated, static_cast<int32_t>(prompt.size()));
  // The cache holds the prompt and 3 evaluated generated tokens; the 4th is pending.
  EXPECT_EQ(ctx.n_past(), static_cast<int32_t>(prompt.size() + 3));
  EXPECT_EQ(cache.size(), prompt.size() + 4);

  // Continue the conversation: only the pending token and the new ones are processed.
  std::vector<TokenId> longer = cache;
  const auto extra = m.tokenizer.encode(" jumps over", false, false);
  longer.insert(longer.end(), extra.begin(), extra.end());
  const auto second = generate_with(m, ctx, cache, longer, greedy(2));
  EXPECT_EQ(second.metrics.prompt_tokens_evaluated, static_cast<int32_t>(1 + extra.size()));

  // The same prompt again: only its last token is re-evaluated (for its logits).
  const auto third = generate_with(m, ctx, cache, prompt, greedy(2));
  EXPECT_EQ(third.metrics.prompt_tokens_evaluated, 1);
  EXPECT_EQ(third.metrics.prompt_tokens, static_cast<int32_t>(prompt.size()));
}

TEST(GenerateModel, CancelDropsHeldTextAndReportsCancelled) {
  const auto& m = tiny();
  Context ctx(m.model, small_context());
  std::vector<TokenId> cache;
  Generator gen(ctx, m.tokenizer, cache, prompt_tokens("The quick brown fox"), greedy(16));
  std::string piece;
  ASSERT_TRUE(gen.next(piece));
  gen.cancel();
  EXPECT_FALSE(gen.next(piece));
  EXPECT_EQ(gen.finish_reason(), FinishReason::cancelled);
  EXPECT_EQ(gen.generated().size(), 1u);
}

TEST(GenerateModel, EmptyPromptIsAConfigError) {
  try {
    generate_fresh({}, greedy(2));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::config);
  }
}

}  // namespace
}  // namespace bitnet::generate
