#include "generate/generator.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <string>

#include "bitnet/error.hpp"

namespace bitnet::generate {
namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int64_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

Generator::Generator(Context& ctx, const tokenizer::Tokenizer& tokenizer,
                     std::vector<TokenId>& tokens, std::span<const TokenId> prompt,
                     const GenerationConfig& config, Clock::time_point started)
    : ctx_(ctx),
      tokenizer_(tokenizer),
      tokens_(tokens),
      config_(config),
      sampler_(config),
      decoder_(tokenizer, config.skip_special_tokens),
      stop_(config.stop),
      started_(started) {
  if (prompt.empty()) throw Error(ErrorCategory::config, "generate: the prompt has no tokens");
  if (static_cast<int64_t>(prompt.size()) > ctx_.n_ctx()) {
    throw Error(ErrorCategory::capacity, "generate: the prompt has " +
                                             std::to_string(prompt.size()) +
                                             " tokens but the context holds " +
                                             std::to_string(ctx_.n_ctx()) + " (raise n_ctx, -c)");
  }
  const bool has_bos = tokenizer_.special_ids().bos != tokenizer::kNoToken &&
                       prompt.front() == tokenizer_.special_ids().bos;
  const size_t keep = config_.n_keep < 0 ? prompt.size() : static_cast<size_t>(config_.n_keep);
  n_keep_ = std::min(prompt.size(), keep + (has_bos ? 1 : 0));
  if (config_.max_new_tokens > 0)
    generated_.reserve(static_cast<size_t>(std::min(config_.max_new_tokens, ctx_.n_ctx())));
  evaluate_prompt(prompt);
}

// Keeps the longest common prefix of the cache and the prompt and evaluates the rest in one batch.
// At least the last prompt token is evaluated, as its logits give the first generated token.
void Generator::evaluate_prompt(std::span<const TokenId> prompt) {
  const size_t cached = std::min(tokens_.size(), static_cast<size_t>(ctx_.n_past()));
  size_t common = 0;
  while (common < cached && common < prompt.size() && tokens_[common] == prompt[common]) ++common;
  common = std::min(common, prompt.size() - 1);
  ctx_.truncate(static_cast<int32_t>(common));
  tokens_.assign(prompt.begin(), prompt.end());

  metrics_.prompt_tokens = static_cast<int32_t>(prompt.size());
  metrics_.prompt_tokens_evaluated = static_cast<int32_t>(prompt.size() - common);
  const auto t0 = Clock::now();
  ctx_.eval(prompt.subspan(common), /*all_logits=*/false);
  metrics_.prompt_ms = ms_since(t0);
}

bool Generator::next(std::string& piece) {
  piece.clear();
  while (!finished_ && piece.empty()) step(piece);
  return !piece.empty();
}

void Generator::cancel() {
  if (finished_) return;
  finished_ = true;
  reason_ = FinishReason::cancelled;
  update_rates();
}

void Generator::step(std::string& piece) {
  const auto n_generated = static_cast<int32_t>(generated_.size());
  if (config_.max_new_tokens >= 0 && n_generated >= config_.max_new_tokens) {
    finish(FinishReason::length, piece);
    return;
  }
  const auto t0 = Clock::now();
  const TokenId token = sampler_.sample(ctx_.last_logits(), tokens_);
  metrics_.sample_ms += ms_since(t0);
  if (config_.on_logits) config_.on_logits(token, ctx_.last_logits());
  if (generated_.empty()) metrics_.time_to_first_token_ms = ms_since(started_);

  if (!config_.ignore_eos && tokenizer_.is_eog(token)) {
    finish(FinishReason::eos, piece);
    return;
  }
  tokens_.push_back(token);
  generated_.push_back(token);
  metrics_.generated_tokens = static_cast<int32_t>(generated_.size());
  piece += stop_.push(decoder_.push(token));
  if (stop_.matched()) {
    finish(FinishReason::stop_sequence, piece);
    return;
  }
  // The last allowed token is not evaluated: nothing would use its logits. It stays in tokens_ and
  // a later generation that continues from here evaluates it.
  if (config_.max_new_tokens >= 0 && metrics_.generated_tokens >= config_.max_new_tokens) {
    finish(FinishReason::length, piece);
    return;
  }
  evaluate_last_token(piece);
}

void Generator::evaluate_last_token(std::string& piece) {
  const auto t0 = Clock::now();
  if (ctx_.n_past() >= ctx_.n_ctx()) {
    if (config_.on_context_full == ContextOverflow::error || !shift_context()) {
      finish(FinishReason::context_full, piece);
      return;
    }
  } else {
    ctx_.eval(std::span<const TokenId>(&tokens_.back(), 1), /*all_logits=*/false);
  }
  metrics_.decode_ms += ms_since(t0);
  ++metrics_.decode_steps;
}

// llama.cpp's context shift: keep the first n_keep tokens, drop the oldest half of the rest.
// llama.cpp re-rotates the cached keys to their new positions; we re-evaluate the kept tokens in
// one batch instead, so the cache afterwards is exactly what a fresh run over the kept tokens gives
// (the same numerics as any prompt), at the cost of one prompt-sized batch per shift.
bool Generator::shift_context() {
  const size_t n_past = static_cast<size_t>(ctx_.n_past());
  if (n_keep_ >= n_past) return false;
  const size_t n_discard = (n_past - n_keep_) / 2;
  if (n_discard == 0) return false;
  tokens_.erase(tokens_.begin() + static_cast<std::ptrdiff_t>(n_keep_),
                tokens_.begin() + static_cast<std::ptrdiff_t>(n_keep_ + n_discard));
  ctx_.reset();
  ctx_.eval(tokens_, /*all_logits=*/false);
  ++metrics_.context_shifts;
  return true;
}

void Generator::finish(FinishReason reason, std::string& piece) {
  finished_ = true;
  reason_ = reason;
  if (reason != FinishReason::stop_sequence) {
    piece += stop_.push(decoder_.flush());
    if (stop_.matched()) {
      reason_ = FinishReason::stop_sequence;
    } else {
      piece += stop_.flush();
    }
  }
  update_rates();
}

void Generator::update_rates() {
  auto& m = metrics_;
  m.total_ms = ms_since(started_);
  m.prompt_tokens_per_s = m.prompt_ms > 0 ? 1000.0 * m.prompt_tokens_evaluated / m.prompt_ms : 0;
  m.generation_tokens_per_s = m.decode_ms > 0 ? 1000.0 * m.decode_steps / m.decode_ms : 0;
  m.ms_per_token = m.decode_steps > 0 ? m.decode_ms / m.decode_steps : 0;
  m.peak_memory_bytes = peak_rss_bytes();
}

}  // namespace bitnet::generate
