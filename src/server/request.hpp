// A completion request as the scheduler runs it, parsed from the body of POST /v1/chat/completions
// or /v1/completions. Parsing validates every field it knows (type and range, a 400 naming the
// field otherwise) and ignores the others, as OpenAI's API does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bitnet/generation.hpp"

namespace bitnet::tokenizer {
class Tokenizer;
}

namespace bitnet::server {

enum class Endpoint { chat, completion };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::chat;
  std::string model;            // as sent (empty when absent)
  std::vector<int32_t> prompt;  // tokens, template applied
  GenerationConfig sampling;    // max_new_tokens, temperature, ..., stop, ignore_eos, seed
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  int top_logprobs = 0;      // 0..20
  bool json_object = false;  // response_format {"type": "json_object"}
  bool cache_prompt = true;  // llama-server's extension: reuse a slot's cached prefix
};

struct PromptContext {
  const tokenizer::Tokenizer& tokenizer;
  std::string chat_template;  // "auto" or a template name
};

// Throw ApiError (400) naming the field.
CompletionRequest parse_chat_request(const nlohmann::json& body, const PromptContext& prompt);
CompletionRequest parse_completion_request(const nlohmann::json& body, const PromptContext& prompt);

// The body as a JSON object; 400 for invalid JSON (with the parser's position) or another type.
nlohmann::json parse_body(const std::string& body);

}  // namespace bitnet::server
