// Generation settings and results shared by the C++ API (bitnet.hpp) and the engine: how to sample,
// when to stop, what to do when the context is full, and how fast the last generation ran.
// See docs/generation.md for the sampling order and the meaning of every figure.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace bitnet {

// Why a generation ended.
enum class FinishReason {
  length,         // max_new_tokens generated
  eos,            // the model produced an end-of-generation token (EOS, EOT or EOM)
  stop_sequence,  // one of GenerationConfig::stop appeared in the text (it is not emitted)
  cancelled,      // the text callback returned false (or the caller stopped iterating)
  context_full,   // no room left in the context and the overflow policy is `error`
};
const char* to_string(FinishReason reason) noexcept;

// What happens when a generated token does not fit in the context any more.
enum class ContextOverflow {
  error,  // stop with FinishReason::context_full (a prompt that does not fit throws
          // Error(capacity))
  shift,  // keep BOS + n_keep tokens, drop the oldest half of the rest and continue (re-evaluates)
};

inline constexpr uint32_t kRandomSeed = 0xFFFFFFFFu;  // draw a seed from std::random_device

// Streaming logits: called once per generated token with the token just sampled and the logits row
// it was sampled from (n_vocab floats, before any penalty; valid only during the call). The first
// call's row is the prompt's last position. An end-of-generation token is reported too.
using LogitsCallback = std::function<void(int32_t token, std::span<const float> logits)>;

struct GenerationConfig {
  int32_t max_new_tokens = 128;  // -1: until EOS, a stop sequence or a full context
  // Sampling, applied in this order (like llama.cpp's default chain): repetition penalty, top-k,
  // top-p, min-p, temperature, then a draw. temperature 0 = greedy (arg-max, first on ties).
  float temperature = 0.8f;
  int32_t top_k = 40;           // 0 = off
  float top_p = 0.95f;          // 1 = off
  float min_p = 0.05f;          // 0 = off
  float repeat_penalty = 1.0f;  // 1 = off
  int32_t repeat_last_n = 64;   // window of the penalties in tokens; 0 = off, -1 = the whole context
  // OpenAI's penalties over the same window: logit -= count * frequency + (count > 0) * presence.
  float frequency_penalty = 0.0f;  // [-2, 2]; 0 = off
  float presence_penalty = 0.0f;   // [-2, 2]; 0 = off
  // same seed + same threads + same prompt = same text. kRandomSeed: BITNET_SEED if set, else 42
  // under BITNET_DETERMINISTIC=1, else a random draw.
  uint32_t seed = kRandomSeed;
  std::vector<std::string> stop;    // stop sequences, matched on the decoded text
  bool skip_special_tokens = true;  // special tokens in the output print as nothing
  bool ignore_eos = false;          // keep going after EOS/EOT (they are then sampled as text)
  ContextOverflow on_context_full = ContextOverflow::error;
  int32_t n_keep = 0;        // with `shift`: tokens kept after BOS; -1 = the whole prompt
  LogitsCallback on_logits;  // empty = off (see LogitsCallback)

  static GenerationConfig greedy();  // temperature 0: deterministic arg-max
  static GenerationConfig
  balanced();  // temperature 0.7, top-k 40, top-p 0.9, min-p 0.05, penalty 1.1
  static GenerationConfig creative();  // temperature 1.0, top-k 100, top-p 0.95, min-p 0.02

  // Throws bitnet::Error (config) naming the first bad field, e.g.
  // "GenerationConfig.top_p must be in (0, 1], got 1.5".
  void validate() const;
};

// Timings of the last generation. Prompt figures cover the prompt tokens that were actually
// evaluated (tokens already in the KV cache are not processed again); generation figures cover
// the one-token decode steps, like llama.cpp's "eval time" (the first generated token comes from
// the prompt's logits, so n decoded tokens need n - 1 decode steps).
struct PerformanceMetrics {
  int32_t prompt_tokens = 0;            // tokens of the prompt
  int32_t prompt_tokens_evaluated = 0;  // of which were not in the cache and were processed
  int32_t generated_tokens = 0;         // tokens sampled (an ending EOS is not counted)
  int32_t decode_steps = 0;             // one-token evaluations
  int32_t context_shifts = 0;
  double tokenize_ms = 0;
  double prompt_ms = 0;               // evaluating the prompt (one batch)
  double decode_ms = 0;               // all decode steps
  double sample_ms = 0;               // all sampling
  double time_to_first_token_ms = 0;  // from the call to the first sampled token
  double total_ms = 0;
  double prompt_tokens_per_s = 0;      // prompt_tokens_evaluated / prompt_ms
  double generation_tokens_per_s = 0;  // decode_steps / decode_ms
  double ms_per_token = 0;             // decode_ms / decode_steps
  int64_t peak_memory_bytes = 0;       // peak resident set size of the process (getrusage)
};

}  // namespace bitnet
