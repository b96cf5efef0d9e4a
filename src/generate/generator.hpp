// One generation over a Context: evaluates the prompt (reusing the longest prefix already in the KV
// cache), then samples, decodes and evaluates one token at a time. Text comes out in pieces that
// are valid UTF-8, with stop sequences held back and removed. Used by the C++ API (Engine), the CLI
// and the tests; it knows nothing about chat templates.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bitnet/generation.hpp"
#include "generate/sampler.hpp"
#include "generate/stop_matcher.hpp"
#include "model/context.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::generate {

using Clock = std::chrono::steady_clock;

class Generator {
 public:
  // `tokens` is the token sequence the context holds: its first ctx.n_past() entries are in the KV
  // cache, any later ones are waiting to be evaluated. The generator replaces it by the prompt and
  // appends every generated token; keep it alive (and untouched) while the generator runs.
  // `started` is when the caller began (tokenizing counts towards the time to first token).
  // Throws Error(config) for a bad config or an empty prompt, Error(capacity) for a prompt longer
  // than the context.
  Generator(Context& ctx, const tokenizer::Tokenizer& tokenizer, std::vector<TokenId>& tokens,
            std::span<const TokenId> prompt, const GenerationConfig& config,
            Clock::time_point started = Clock::now());

  // The next piece of text (never empty) into `piece`; false once the generation has ended and
  // all its text was returned.
  bool next(std::string& piece);
  // Ends the generation now (FinishReason::cancelled); held-back text is dropped.
  void cancel();

  bool finished() const { return finished_; }
  FinishReason finish_reason() const { return reason_; }
  const PerformanceMetrics& metrics() const { return metrics_; }
  uint32_t seed() const { return sampler_.seed(); }
  std::span<const TokenId> generated() const { return generated_; }

 private:
  void evaluate_prompt(std::span<const TokenId> prompt);
  void step(std::string& piece);
  void evaluate_last_token(std::string& piece);
  bool shift_context();
  void finish(FinishReason reason, std::string& piece);
  void update_rates();

  Context& ctx_;
  const tokenizer::Tokenizer& tokenizer_;
  std::vector<TokenId>& tokens_;
  GenerationConfig config_;
  Sampler sampler_;
  tokenizer::StreamDecoder decoder_;
  StopMatcher stop_;
  Clock::time_point started_;
  size_t n_keep_ = 0;  // tokens a context shift keeps at the start
  std::vector<TokenId>
      generated_;  // every sampled token, in order (a shift may drop some from tokens_)
  bool finished_ = false;
  FinishReason reason_ = FinishReason::length;
  PerformanceMetrics metrics_;
};

// Peak resident set size of this process in bytes (0 where unknown).
int64_t peak_rss_bytes();

}  // namespace bitnet::generate
