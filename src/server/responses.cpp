#include "server/responses.hpp"

#include "tokenizer/tokenizer.hpp"

namespace bitnet::server {
namespace {

using nlohmann::json;

const char* object_name(const CompletionRequest& req, bool chunk) {
  if (req.endpoint == Endpoint::completion) return "text_completion";
  return chunk ? "chat.completion.chunk" : "chat.completion";
}

json envelope(const ResponseContext& rc, const CompletionRequest& req, bool chunk) {
  return {{"id", rc.id},
          {"object", object_name(req, chunk)},
          {"created", rc.created},
          {"model", rc.model},
          {"system_fingerprint", "bitnet-cxx"}};
}

json bytes_of(const std::string& piece) {
  json bytes = json::array();
  for (const unsigned char c : piece) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// OpenAI's chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [...]}]}.
json chat_logprobs(const ResponseContext& rc, const std::vector<TokenEvent>& events) {
  json content = json::array();
  for (const auto& e : events) {
    const std::string& piece = rc.tokenizer.token_to_piece(e.token);
    json top = json::array();
    for (const auto& t : e.top) {
      const std::string& p = rc.tokenizer.token_to_piece(t.token);
      top.push_back({{"token", p}, {"logprob", t.logprob}, {"bytes", bytes_of(p)}});
    }
    content.push_back({{"token", piece},
                       {"logprob", e.logprob},
                       {"bytes", bytes_of(piece)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// The legacy completions logprobs: parallel arrays.
json completion_logprobs(const ResponseContext& rc, const std::vector<TokenEvent>& events,
                         size_t text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(),
       offsets = json::array();
  for (const auto& e : events) {
    const std::string& piece = rc.tokenizer.token_to_piece(e.token);
    tokens.push_back(piece);
    token_logprobs.push_back(e.logprob);
    json alternatives = json::object();
    for (const auto& t : e.top) alternatives[rc.tokenizer.token_to_piece(t.token)] = t.logprob;
    top.push_back(alternatives);
    offsets.push_back(text_offset);
    text_offset += e.text.size();
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_logprobs},
          {"top_logprobs", top},
          {"text_offset", offsets}};
}

std::string joined_text(const std::vector<TokenEvent>& events) {
  std::string text;
  for (const auto& e : events) text += e.text;
  return text;
}

}  // namespace

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json usage_json(const TaskResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

json timings_json(const TaskResult& r) {
  const int32_t evaluated = r.prompt_tokens - r.cached_tokens;
  const int32_t decoded = std::max(0, r.completion_tokens - 1);
  return {{"cache_n", r.cached_tokens},
          {"prompt_n", evaluated},
          {"prompt_ms", r.prompt_ms},
          {"prompt_per_second", r.prompt_ms > 0 ? 1000.0 * evaluated / r.prompt_ms : 0.0},
          {"predicted_n", r.completion_tokens},
          {"predicted_ms", r.predicted_ms},
          {"predicted_per_second", r.predicted_ms > 0 ? 1000.0 * decoded / r.predicted_ms : 0.0}};
}

json chat_response(const ResponseContext& rc, const CompletionRequest& req,
                   const std::vector<TokenEvent>& events, const TaskResult& result) {
  json j = envelope(rc, req, false);
  json choice = {
      {"index", 0},
      {"message", {{"role", "assistant"}, {"content", joined_text(events) + result.text}}},
      {"finish_reason", result.finish_reason}};
  choice["logprobs"] = req.logprobs ? chat_logprobs(rc, events) : json();
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(result);
  j["timings"] = timings_json(result);
  return j;
}

json completion_response(const ResponseContext& rc, const CompletionRequest& req,
                         const std::vector<TokenEvent>& events, const TaskResult& result) {
  json j = envelope(rc, req, false);
  json choice = {{"index", 0},
                 {"text", joined_text(events) + result.text},
                 {"finish_reason", result.finish_reason}};
  choice["logprobs"] = req.logprobs ? completion_logprobs(rc, events, 0) : json();
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(result);
  j["timings"] = timings_json(result);
  return j;
}

json chat_role_chunk(const ResponseContext& rc) {
  CompletionRequest chat;
  json j = envelope(rc, chat, true);
  j["choices"] = json::array({{{"index", 0},
                               {"delta", {{"role", "assistant"}, {"content", ""}}},
                               {"logprobs", nullptr},
                               {"finish_reason", nullptr}}});
  return j;
}

json chat_content_chunk(const ResponseContext& rc, const CompletionRequest& req,
                        const std::string& text, const std::vector<TokenEvent>& events) {
  json j = envelope(rc, req, true);
  json choice = {{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}};
  choice["logprobs"] = req.logprobs && !events.empty() ? chat_logprobs(rc, events) : json();
  j["choices"] = json::array({choice});
  if (req.include_usage) j["usage"] = nullptr;
  return j;
}

json completion_text_chunk(const ResponseContext& rc, const CompletionRequest& req,
                           const std::string& text, const std::vector<TokenEvent>& events) {
  json j = envelope(rc, req, true);
  json choice = {{"index", 0}, {"text", text}, {"finish_reason", nullptr}};
  choice["logprobs"] =
      req.logprobs && !events.empty() ? completion_logprobs(rc, events, 0) : json();
  j["choices"] = json::array({choice});
  if (req.include_usage) j["usage"] = nullptr;
  return j;
}

json final_chunk(const ResponseContext& rc, const CompletionRequest& req,
                 const TaskResult& result) {
  json j = envelope(rc, req, true);
  json choice = {{"index", 0}, {"finish_reason", result.finish_reason}, {"logprobs", nullptr}};
  if (req.endpoint == Endpoint::chat) {
    choice["delta"] = json::object();
  } else {
    choice["text"] = "";
  }
  j["choices"] = json::array({choice});
  if (req.include_usage) j["usage"] = nullptr;
  j["timings"] = timings_json(result);
  return j;
}

json usage_chunk(const ResponseContext& rc, const CompletionRequest& req,
                 const TaskResult& result) {
  json j = envelope(rc, req, true);
  j["choices"] = json::array();
  j["usage"] = usage_json(result);
  return j;
}

}  // namespace bitnet::server
