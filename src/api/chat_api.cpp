// bitnet::Chat: multi-turn conversations that append each turn to the cached tokens.
#include <cctype>
#include <string>
#include <utility>

#include "api/api_impl.hpp"
#include "tokenizer/chat_template.hpp"

namespace bitnet::api {
namespace {

std::vector<tokenizer::ChatMessage> to_template_messages(const std::vector<ChatMessage>& messages) {
  std::vector<tokenizer::ChatMessage> out;
  out.reserve(messages.size());
  for (const auto& m : messages) out.push_back({m.role, m.content});
  return out;
}

}  // namespace

Chat::Chat(Engine& engine, std::string system_prompt, std::string template_name)
    : engine_(&engine), template_name_(std::move(template_name)) {
  if (!system_prompt.empty()) messages_.push_back({"system", std::move(system_prompt)});
  // Fail now, not at the first turn, when the template is unknown or the model has none.
  const auto& tok = engine_->impl_->model_impl().tokenizer;
  (void)tokenizer::apply_chat_template(tok, template_name_, {}, false);
}

// Only the new turn is tokenized and evaluated: the text that closes the previous assistant message
// (the template's end-of-turn markup; the reply itself is in the cache as generated) and the new
// user message up to where the next reply begins. When the template does not render the old
// conversation as a prefix of the new one, the whole conversation is re-tokenized and the engine
// reuses the longest common prefix of the cache.
std::string Chat::new_turn_text(std::string_view rendered) const {
  const auto& tok = engine_->impl_->model_impl().tokenizer;
  if (prompt_text_.empty() || messages_.size() < 2) return {};
  const auto& reply = messages_[messages_.size() - 2];
  if (reply.role != "assistant") return {};
  std::vector<ChatMessage> history(messages_.begin(), messages_.end() - 1);
  const auto closed =
      tokenizer::apply_chat_template(tok, template_name_, to_template_messages(history), false);
  // Where the reply's text ends in the closed rendering (templates trim it).
  std::string_view content = reply.content;
  while (!content.empty() && std::isspace(static_cast<unsigned char>(content.back())))
    content.remove_suffix(1);
  while (!content.empty() && std::isspace(static_cast<unsigned char>(content.front())))
    content.remove_prefix(1);
  const std::string replied = prompt_text_ + std::string(content);
  if (!closed.starts_with(replied) || !rendered.starts_with(closed)) return {};
  return closed.substr(replied.size()) + std::string(rendered.substr(closed.size()));
}

GenerationResult Chat::send(std::string_view user_message, const GenerationConfig& config,
                            const TextCallback& on_text) {
  const auto started = generate::Clock::now();
  config.validate();
  Engine::Impl& engine = *engine_->impl_;
  const auto& tok = engine.model_impl().tokenizer;

  messages_.push_back({"user", std::string(user_message)});
  const auto rendered =
      tokenizer::apply_chat_template(tok, template_name_, to_template_messages(messages_), true);
  std::vector<TokenId> prompt;
  const std::string delta = new_turn_text(rendered);
  if (!delta.empty()) {
    prompt = tokens_;
    const auto added = tok.encode(delta, /*add_bos=*/false, /*parse_special=*/true);
    prompt.insert(prompt.end(), added.begin(), added.end());
  } else {
    prompt = tok.encode(rendered, tok.add_bos_default(), /*parse_special=*/true);
  }

  GenerationResult result;
  try {
    result = engine.run(prompt, config, on_text, started);
  } catch (...) {
    messages_.pop_back();
    throw;
  }
  // The reply as the cache holds it: the generated tokens, including a stop sequence that was not
  // emitted.
  messages_.push_back({"assistant", tok.decode(result.tokens, /*skip_special=*/false)});
  prompt_text_ = rendered;
  tokens_ = std::move(prompt);
  tokens_.insert(tokens_.end(), result.tokens.begin(), result.tokens.end());
  return result;
}

void Chat::reset() {
  std::vector<ChatMessage> kept;
  if (!messages_.empty() && messages_.front().role == "system") kept.push_back(messages_.front());
  messages_ = std::move(kept);
  prompt_text_.clear();
  tokens_.clear();
}

}  // namespace bitnet::api
