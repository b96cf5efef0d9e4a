#include "server/request.hpp"

#include <cmath>
#include <limits>

#include "bitnet/error.hpp"
#include "server/api_error.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::server {
namespace {

using nlohmann::json;

// A field that is absent or null is "not given", as OpenAI's clients send it.
const json* field(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

void read_number(const json& body, const char* name, float lo, float hi, float& out) {
  const json* v = field(body, name);
  if (v == nullptr) return;
  if (!v->is_number()) bad_field(name, "must be a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    bad_field(name,
              "must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " + v->dump());
  }
  out = static_cast<float>(d);
  // A positive value below float's range (5e-324) stays positive rather than becoming 0.
  if (d > 0 && out == 0.0f) out = std::numeric_limits<float>::denorm_min();
}

bool read_int(const json& body, const char* name, int64_t lo, int64_t hi, int64_t& out) {
  const json* v = field(body, name);
  if (v == nullptr) return false;
  if (!v->is_number_integer()) bad_field(name, "must be an integer");
  const bool fits = v->is_number_unsigned() ? v->get<uint64_t>() <= static_cast<uint64_t>(hi)
                                            : v->get<int64_t>() >= lo && v->get<int64_t>() <= hi;
  if (!fits) {
    bad_field(name, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                        v->dump());
  }
  out = v->get<int64_t>();
  return true;
}

void read_bool(const json& body, const char* name, bool& out) {
  const json* v = field(body, name);
  if (v == nullptr) return;
  if (!v->is_boolean()) bad_field(name, "must be a boolean");
  out = v->get<bool>();
}

// The fields both endpoints share. Defaults are llama-server's (temperature 0.8, top-k 40,
// top-p 0.95, min-p 0.05, no penalties, max_tokens -1 = until EOS or the context is full).
CompletionRequest parse_common(const json& body, Endpoint endpoint) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  CompletionRequest r;
  r.endpoint = endpoint;
  GenerationConfig& g = r.sampling;
  g.max_new_tokens = -1;
  g.repeat_penalty = 1.0f;
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) bad_field("model", "must be a string");
    r.model = m->get<std::string>();
  }
  int64_t max_tokens = -1;
  const int64_t int_max = std::numeric_limits<int32_t>::max();
  if (!read_int(body, "max_completion_tokens", 0, int_max, max_tokens))
    read_int(body, "max_tokens", 0, int_max, max_tokens);
  read_int(body, "n_predict", -1, int_max, max_tokens);  // llama-server's name
  g.max_new_tokens = static_cast<int32_t>(max_tokens);
  read_number(body, "temperature", 0.0f, 2.0f, g.temperature);
  read_number(body, "top_p", 0.0f, 1.0f, g.top_p);
  if (g.top_p == 0.0f) g.top_p = std::numeric_limits<float>::min();  // keep only the best
  int64_t top_k = g.top_k;
  read_int(body, "top_k", 0, int_max, top_k);
  g.top_k = static_cast<int32_t>(top_k);
  read_number(body, "min_p", 0.0f, 1.0f, g.min_p);
  read_number(body, "repeat_penalty", 0.0f, 10.0f, g.repeat_penalty);
  if (g.repeat_penalty == 0.0f) bad_field("repeat_penalty", "must be > 0 (1 = off)");
  int64_t repeat_last_n = g.repeat_last_n;
  read_int(body, "repeat_last_n", -1, int_max, repeat_last_n);
  g.repeat_last_n = static_cast<int32_t>(repeat_last_n);
  read_number(body, "presence_penalty", -2.0f, 2.0f, g.presence_penalty);
  read_number(body, "frequency_penalty", -2.0f, 2.0f, g.frequency_penalty);
  int64_t seed = -1;
  if (read_int(body, "seed", -1, 0xFFFFFFFEll, seed))
    g.seed = seed < 0 ? kRandomSeed : static_cast<uint32_t>(seed);
  read_bool(body, "ignore_eos", g.ignore_eos);
  read_bool(body, "cache_prompt", r.cache_prompt);
  read_bool(body, "stream", r.stream);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad_field("stream_options", "must be an object");
    if (const json* u = field(*so, "include_usage")) {
      if (!u->is_boolean()) bad_field("stream_options.include_usage", "must be a boolean");
      r.include_usage = u->get<bool>();
    }
  }
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      g.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > 4) bad_field("stop", "may hold at most 4 sequences");
      for (const auto& s : *stop) {
        if (!s.is_string()) bad_field("stop", "must be a string or an array of strings");
        g.stop.push_back(s.get<std::string>());
      }
    } else {
      bad_field("stop", "must be a string or an array of strings");
    }
    std::erase_if(g.stop, [](const std::string& s) { return s.empty(); });
  }
  int64_t n = 1;
  read_int(body, "n", 1, int_max, n);
  if (n != 1) bad_field("n", "must be 1 (one choice per request is supported)");
  if (const json* rf = field(body, "response_format")) {
    const json* type_field = rf->is_object() ? field(*rf, "type") : nullptr;
    if (type_field == nullptr || !type_field->is_string())
      bad_field("response_format", "must be an object with a string 'type'");
    const auto type = type_field->get<std::string>();
    if (type == "json_object") {
      r.json_object = true;
    } else if (type != "text") {
      bad_field("response_format.type",
                "must be 'text' or 'json_object' ('" + type + "' is not supported)");
    }
  }
  return r;
}

// The message's text: a string, or text parts [{"type": "text", "text": ...}].
std::string message_content(const json& content, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad_field(where, "must be a string or an array of text parts");
  std::string text;
  for (const auto& part : content) {
    const json* type = part.is_object() ? field(part, "type") : nullptr;
    const json* part_text = part.is_object() ? field(part, "text") : nullptr;
    if (type == nullptr || !type->is_string() || *type != "text" || part_text == nullptr ||
        !part_text->is_string()) {
      bad_field(where,
                "parts must be {\"type\": \"text\", \"text\": string} (only text is supported)");
    }
    text += part_text->get<std::string>();
  }
  return text;
}

}  // namespace

json parse_body(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw ApiError(400, std::string("invalid JSON in the request body: ") + e.what());
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

CompletionRequest parse_chat_request(const json& body, const PromptContext& prompt) {
  CompletionRequest r = parse_common(body, Endpoint::chat);
  const json* messages = field(body, "messages");
  if (messages == nullptr) throw ApiError(400, "'messages' is required", "messages", "missing");
  if (!messages->is_array()) bad_field("messages", "must be an array of messages");
  if (messages->empty()) bad_field("messages", "must hold at least one message");
  std::vector<tokenizer::ChatMessage> chat;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad_field(where, "must be an object");
    const json* role_field = field(m, "role");
    if (role_field == nullptr || !role_field->is_string())
      bad_field(where + ".role", "must be one of system, developer, user, assistant");
    std::string role = role_field->get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      bad_field(where + ".role", "must be one of system, developer, user, assistant");
    const json* content = field(m, "content");
    chat.push_back({role, content ? message_content(*content, i) : std::string()});
  }
  read_bool(body, "logprobs", r.logprobs);
  int64_t top = 0;
  read_int(body, "top_logprobs", 0, 20, top);
  if (top > 0 && !r.logprobs) bad_field("top_logprobs", "needs 'logprobs': true");
  r.top_logprobs = static_cast<int>(top);
  std::string text;
  try {
    text = tokenizer::apply_chat_template(prompt.tokenizer, prompt.chat_template, chat, true);
  } catch (const Error& e) {
    throw ApiError(400, std::string("cannot apply the chat template: ") + e.what(), "messages");
  }
  r.prompt = prompt.tokenizer.encode(text, prompt.tokenizer.add_bos_default(), true);
  return r;
}

CompletionRequest parse_completion_request(const json& body, const PromptContext& prompt) {
  CompletionRequest r = parse_common(body, Endpoint::completion);
  const json* p = field(body, "prompt");
  if (p == nullptr) throw ApiError(400, "'prompt' is required", "prompt", "missing");
  const auto& tok = prompt.tokenizer;
  const auto encode = [&](const std::string& text) {
    return tok.encode(text, tok.add_bos_default(), true);
  };
  if (p->is_string()) {
    r.prompt = encode(p->get<std::string>());
  } else if (p->is_array() && !p->empty() && (*p)[0].is_number_integer()) {
    for (const auto& id : *p) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= tok.n_vocab())
        bad_field("prompt",
                  "token ids must be integers in [0, " + std::to_string(tok.n_vocab()) + ")");
      r.prompt.push_back(id.get<int32_t>());
    }
  } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
    r.prompt = encode((*p)[0].get<std::string>());
  } else if (p->is_array()) {
    bad_field("prompt",
              "must be a string or an array of token ids (batches of prompts are not "
              "supported: send one request per prompt)");
  } else {
    bad_field("prompt", "must be a string or an array of token ids");
  }
  if (r.prompt.empty()) bad_field("prompt", "must not be empty");
  // Completions' logprobs is the number of alternatives (0..5) per token.
  if (const json* lp = field(body, "logprobs")) {
    if (lp->is_boolean()) {
      r.logprobs = lp->get<bool>();
    } else {
      int64_t n = 0;
      read_int(body, "logprobs", 0, 20, n);
      r.logprobs = true;
      r.top_logprobs = static_cast<int>(n);
    }
  }
  return r;
}

}  // namespace bitnet::server
