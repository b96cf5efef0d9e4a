// Chat templates: the few formats BitNet models use, rendered in C++ (no Jinja engine), chosen
// from tokenizer.chat_template when it matches a known template, or by name.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::tokenizer {

class Tokenizer;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatTemplate {
  raw,     // contents concatenated as they are, no markup
  llama3,  // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
  bitnet,  // BitNet b1.58 2B-4T: "User: content<|eot_id|>Assistant: "
  llama2,  // <s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] assistant </s>
};

std::string_view to_string(ChatTemplate tmpl);
// "raw", "llama3", "bitnet", "llama2" (and aliases "llama-3", "bitnet-b1.58", "llama-2").
// Throws bitnet::Error (config) for an unknown name, listing the known ones.
ChatTemplate chat_template_from_name(std::string_view name);
// Recognises a Jinja chat template by its distinctive markup; nullopt when none matches.
std::optional<ChatTemplate> detect_chat_template(std::string_view jinja);

// Renders the conversation. BOS is not included: encode the result with add_bos (the tokenizer's
// default), as llama.cpp does. With add_assistant the prompt ends where the assistant's reply
// begins.
std::string apply_chat_template(ChatTemplate tmpl, std::span<const ChatMessage> messages,
                                bool add_assistant);
// name_or_auto: a template name, or "auto" (or "") for the model's tokenizer.chat_template, which
// must match a known template (throws bitnet::Error (config) otherwise, or when there is none).
std::string apply_chat_template(const Tokenizer& tokenizer, std::string_view name_or_auto,
                                std::span<const ChatMessage> messages, bool add_assistant);

}  // namespace bitnet::tokenizer
