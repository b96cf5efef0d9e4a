// The JSON bodies of the completion endpoints, in OpenAI's shapes (chat.completion,
// chat.completion.chunk, text_completion), plus llama-server's `timings`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/task.hpp"

namespace bitnet::tokenizer {
class Tokenizer;
}

namespace bitnet::server {

struct ResponseContext {
  const tokenizer::Tokenizer& tokenizer;
  std::string id;     // chatcmpl-... / cmpl-...
  std::string model;  // the model id
  int64_t created = 0;
};

// Serializes with invalid UTF-8 replaced (token pieces may split a character).
std::string dump(const nlohmann::json& j);

nlohmann::json usage_json(const TaskResult& result);
nlohmann::json timings_json(const TaskResult& result);

// Whole responses (stream: false).
nlohmann::json chat_response(const ResponseContext& rc, const CompletionRequest& req,
                             const std::vector<TokenEvent>& events, const TaskResult& result);
nlohmann::json completion_response(const ResponseContext& rc, const CompletionRequest& req,
                                   const std::vector<TokenEvent>& events, const TaskResult& result);

// Streaming chunks. `events` are the tokens of this chunk.
nlohmann::json chat_role_chunk(const ResponseContext& rc);
nlohmann::json chat_content_chunk(const ResponseContext& rc, const CompletionRequest& req,
                                  const std::string& text, const std::vector<TokenEvent>& events);
nlohmann::json completion_text_chunk(const ResponseContext& rc, const CompletionRequest& req,
                                     const std::string& text,
                                     const std::vector<TokenEvent>& events);
// The chunk with finish_reason (and, for the last one with include_usage, usage).
nlohmann::json final_chunk(const ResponseContext& rc, const CompletionRequest& req,
                           const TaskResult& result);
nlohmann::json usage_chunk(const ResponseContext& rc, const CompletionRequest& req,
                           const TaskResult& result);

}  // namespace bitnet::server
