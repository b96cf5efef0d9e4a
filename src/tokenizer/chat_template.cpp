#include "tokenizer/chat_template.hpp"

#include "bitnet/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::tokenizer {

namespace {
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string render_llama3(std::span<const ChatMessage> messages, bool add_assistant) {
  std::string out;
  for (const auto& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
    out += trim(m.content);
    out += "<|eot_id|>";
  }
  if (add_assistant) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Microsoft's BitNet b1.58 2B-4T: the role capitalised, a colon, the trimmed content, <|eot_id|>.
std::string render_bitnet(std::span<const ChatMessage> messages, bool add_assistant) {
  std::string out;
  for (const auto& m : messages) {
    std::string role = m.role;
    if (!role.empty() && role[0] >= 'a' && role[0] <= 'z')
      role[0] = static_cast<char>(role[0] - 32);
    out += role + ": ";
    out += trim(m.content);
    out += "<|eot_id|>";
  }
  if (add_assistant) out += "Assistant: ";
  return out;
}

// Meta's LLaMA-2 chat format: a system prompt folds into the first user turn; each finished
// exchange closes with </s> and the next opens with <s>. The very first <s> is the tokenizer's BOS.
// add_assistant changes nothing: the prompt already ends where the reply starts, after [/INST].
std::string render_llama2(std::span<const ChatMessage> messages) {
  std::string out;
  std::string system;
  bool first_turn = true;
  for (const auto& m : messages) {
    const auto content = trim(m.content);
    if (m.role == "system") {
      system = std::string(content);
    } else if (m.role == "user") {
      if (!first_turn) out += "<s>";
      out += "[INST] ";
      if (!system.empty()) {
        out += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
        system.clear();
      }
      out += content;
      out += " [/INST]";
      first_turn = false;
    } else {  // assistant
      out += " ";
      out += content;
      out += " </s>";
    }
  }
  return out;
}

std::string render_raw(std::span<const ChatMessage> messages) {
  std::string out;
  for (const auto& m : messages) out += m.content;
  return out;
}
}  // namespace

std::string_view to_string(ChatTemplate tmpl) {
  switch (tmpl) {
    case ChatTemplate::raw:
      return "raw";
    case ChatTemplate::llama3:
      return "llama3";
    case ChatTemplate::bitnet:
      return "bitnet";
    case ChatTemplate::llama2:
      return "llama2";
  }
  return "?";
}

ChatTemplate chat_template_from_name(std::string_view name) {
  if (name == "raw" || name == "none") return ChatTemplate::raw;
  if (name == "llama3" || name == "llama-3") return ChatTemplate::llama3;
  if (name == "bitnet" || name == "bitnet-b1.58" || name == "bitnet-25")
    return ChatTemplate::bitnet;
  if (name == "llama2" || name == "llama-2") return ChatTemplate::llama2;
  throw Error(ErrorCategory::config, "unknown chat template '" + std::string(name) +
                                         "' (known: llama3, bitnet, llama2, raw)");
}

std::optional<ChatTemplate> detect_chat_template(std::string_view jinja) {
  if (contains(jinja, "<|start_header_id|>") && contains(jinja, "<|end_header_id|>")) {
    return ChatTemplate::llama3;
  }
  if (contains(jinja, "<|eot_id|>") && contains(jinja, "Assistant: ")) return ChatTemplate::bitnet;
  if (contains(jinja, "[INST]")) return ChatTemplate::llama2;
  return std::nullopt;
}

std::string apply_chat_template(ChatTemplate tmpl, std::span<const ChatMessage> messages,
                                bool add_assistant) {
  switch (tmpl) {
    case ChatTemplate::raw:
      return render_raw(messages);
    case ChatTemplate::llama3:
      return render_llama3(messages, add_assistant);
    case ChatTemplate::bitnet:
      return render_bitnet(messages, add_assistant);
    case ChatTemplate::llama2:
      return render_llama2(messages);
  }
  return render_raw(messages);
}

std::string apply_chat_template(const Tokenizer& tokenizer, std::string_view name_or_auto,
                                std::span<const ChatMessage> messages, bool add_assistant) {
  if (!name_or_auto.empty() && name_or_auto != "auto") {
    return apply_chat_template(chat_template_from_name(name_or_auto), messages, add_assistant);
  }
  const auto jinja = tokenizer.chat_template();
  if (!jinja) {
    throw Error(ErrorCategory::config,
                "the model has no tokenizer.chat_template; choose one by name (llama3, bitnet, "
                "llama2, raw)");
  }
  const auto detected = detect_chat_template(*jinja);
  if (!detected) {
    throw Error(ErrorCategory::config,
                "tokenizer.chat_template matches no known template; choose one by name (llama3, "
                "bitnet, llama2, raw)");
  }
  return apply_chat_template(*detected, messages, add_assistant);
}

}  // namespace bitnet::tokenizer
