// Tokenizer metadata for synthetic models: the built-in byte-level vocabulary, or a copy of another
// GGUF's tokenizer.* keys.
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "model/synth.hpp"

namespace bitnet::synth {
namespace {

// llama.cpp token types.
constexpr int32_t kNormal = 1;
constexpr int32_t kControl = 3;
constexpr int32_t kUnused = 5;

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the others are
// shifted to U+0100 and up, so every byte is a visible character.
std::vector<std::string> byte_tokens() {
  std::vector<std::string> out(256);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    out[b] = utf8(printable ? b : next++);
  }
  return out;
}

// LLaMA-3's special tokens by their offset from the first special id.
std::string special_name(int64_t i) {
  switch (i) {
    case 0:
      return "<|begin_of_text|>";
    case 1:
      return "<|end_of_text|>";
    case 6:
      return "<|start_header_id|>";
    case 7:
      return "<|end_header_id|>";
    case 9:
      return "<|eot_id|>";
    default:
      return "<|reserved_special_token_" + std::to_string(i) + "|>";
  }
}

constexpr const char* kChatTemplate =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim "
    "+ "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ "
    "content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}";

}  // namespace

int64_t write_byte_level_vocab(gguf::GgufWriter& writer, int64_t n_vocab) {
  if (n_vocab < 512) {
    throw Error(ErrorCategory::config,
                "built-in vocabulary needs at least 512 tokens, got " + std::to_string(n_vocab));
  }
  // Special tokens take the last 256 ids (so a 128256-token vocab has LLaMA-3's ids: BOS 128000).
  const int64_t first_special = n_vocab - 256;
  std::vector<std::string> tokens = byte_tokens();
  std::vector<int32_t> types(256, kNormal);
  std::vector<std::string> merges;
  const auto add_merge = [&](const std::string& a, const std::string& b) {
    if (static_cast<int64_t>(tokens.size()) >= first_special) return;
    merges.push_back(a + " " + b);
    tokens.push_back(a + b);
    types.push_back(kNormal);
  };
  const std::string space = tokens[' '];  // "Ġ"
  for (char c = 'a'; c <= 'z'; ++c) add_merge(space, std::string(1, c));
  for (char a = 'a'; a <= 'z'; ++a) {
    for (char b = 'a'; b <= 'z'; ++b) add_merge(std::string(1, a), std::string(1, b));
  }
  while (static_cast<int64_t>(tokens.size()) < first_special) {
    tokens.push_back("<|unused_" + std::to_string(tokens.size()) + "|>");
    types.push_back(kUnused);
  }
  for (int64_t i = 0; i < 256; ++i) {
    tokens.push_back(special_name(i));
    types.push_back(kControl);
  }
  writer.add_string("tokenizer.ggml.model", "gpt2");
  writer.add_string("tokenizer.ggml.pre", "llama-bpe");
  writer.add_string_array("tokenizer.ggml.tokens", tokens);
  writer.add_i32_array("tokenizer.ggml.token_type", types);
  writer.add_string_array("tokenizer.ggml.merges", merges);
  writer.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(first_special));
  writer.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(first_special + 1));
  writer.add_u32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(first_special + 9));
  writer.add_bool("tokenizer.ggml.add_bos_token", true);
  writer.add_string("tokenizer.chat_template", kChatTemplate);
  return n_vocab;
}

int64_t copy_tokenizer(const gguf::GgufFile& source, gguf::GgufWriter& writer) {
  const gguf::Value* tokens = source.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->type() != gguf::ValueType::ARRAY) {
    throw Error(ErrorCategory::model, source.path() + ": no tokenizer.ggml.tokens array to copy");
  }
  for (const auto& [key, value] : source.metadata()) {
    if (key.starts_with("tokenizer.")) writer.copy_key(key, value);
  }
  return static_cast<int64_t>(tokens->as_array().size);
}

}  // namespace bitnet::synth
