#include <cmath>
#include <cstdio>
#include <string>

#include "bitnet/error.hpp"
#include "bitnet/generation.hpp"

namespace bitnet {
namespace {

[[noreturn]] void bad_field(const char* field, const std::string& rule, const std::string& got) {
  throw Error(ErrorCategory::config,
              std::string("GenerationConfig.") + field + " " + rule + ", got " + got);
}

std::string str(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  return buf;
}

}  // namespace

const char* to_string(FinishReason reason) noexcept {
  switch (reason) {
    case FinishReason::length:
      return "length";
    case FinishReason::eos:
      return "eos";
    case FinishReason::stop_sequence:
      return "stop_sequence";
    case FinishReason::cancelled:
      return "cancelled";
    case FinishReason::context_full:
      return "context_full";
  }
  return "unknown";
}

GenerationConfig GenerationConfig::greedy() {
  GenerationConfig c;
  c.temperature = 0.0f;
  c.top_k = 0;
  c.top_p = 1.0f;
  c.min_p = 0.0f;
  c.repeat_penalty = 1.0f;
  return c;
}

GenerationConfig GenerationConfig::balanced() {
  GenerationConfig c;
  c.temperature = 0.7f;
  c.top_k = 40;
  c.top_p = 0.9f;
  c.min_p = 0.05f;
  c.repeat_penalty = 1.1f;
  c.repeat_last_n = 64;
  return c;
}

GenerationConfig GenerationConfig::creative() {
  GenerationConfig c;
  c.temperature = 1.0f;
  c.top_k = 100;
  c.top_p = 0.95f;
  c.min_p = 0.02f;
  c.repeat_penalty = 1.05f;
  c.repeat_last_n = 128;
  return c;
}

void GenerationConfig::validate() const {
  if (max_new_tokens < -1)
    bad_field("max_new_tokens", "must be >= 0 (or -1 for no limit)",
              std::to_string(max_new_tokens));
  if (!std::isfinite(temperature) || temperature < 0.0f)
    bad_field("temperature", "must be a finite number >= 0", str(temperature));
  if (top_k < 0) bad_field("top_k", "must be >= 0 (0 = off)", std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) bad_field("top_p", "must be in (0, 1]", str(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f)) bad_field("min_p", "must be in [0, 1]", str(min_p));
  if (!std::isfinite(repeat_penalty) || repeat_penalty <= 0.0f)
    bad_field("repeat_penalty", "must be a finite number > 0 (1 = off)", str(repeat_penalty));
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    bad_field("frequency_penalty", "must be in [-2, 2] (0 = off)", str(frequency_penalty));
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    bad_field("presence_penalty", "must be in [-2, 2] (0 = off)", str(presence_penalty));
  if (repeat_last_n < -1)
    bad_field("repeat_last_n", "must be >= 0 (or -1 for the whole context)",
              std::to_string(repeat_last_n));
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty())
      bad_field(("stop[" + std::to_string(i) + "]").c_str(), "must not be empty", "\"\"");
  }
  if (n_keep < -1)
    bad_field("n_keep", "must be >= 0 (or -1 for the whole prompt)", std::to_string(n_keep));
  if (on_context_full != ContextOverflow::error && on_context_full != ContextOverflow::shift)
    bad_field("on_context_full", "must be error or shift",
              std::to_string(static_cast<int>(on_context_full)));
}

}  // namespace bitnet
