// The tokenizer's data as loaded from GGUF metadata or a tokenizer.json, before any index is built.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tokenizer/token_index.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::tokenizer {

struct Vocab {
  VocabKind kind = VocabKind::byte_bpe;
  std::string pre;          // pre-tokenizer name, for messages and export
  std::string split_regex;  // byte_bpe: the pre-tokenizer split pattern
  std::vector<std::string> tokens;
  TokenIndex index;           // tokens -> id (all types); built by the loaders
  std::vector<float> scores;  // spm; empty for byte_bpe
  std::vector<TokenType> types;
  std::vector<std::pair<TokenId, TokenId>> merges;  // byte_bpe, rank order
  SpecialIds special;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // spm: a space before the text and after a special token
  bool ignore_merges = false;     // byte_bpe: a word that is a token is taken whole (LLaMA-3)
  std::string chat_template;
  std::string source;  // file name, for error messages
};

// The LLaMA-3 split regex (HF tokenizer.json and llama.cpp's "llama-bpe" pre-tokenizer).
inline constexpr const char* kLlama3SplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// GPT-2's regex (pre "gpt2"/"default" with model "gpt2").
inline constexpr const char* kGpt2SplitRegex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

Vocab load_vocab_gguf(const gguf::GgufFile& file);
Vocab load_vocab_hf_json(std::string_view json_text, const std::string& name);

// Fills special ids that the file did not name from well-known token strings (EOT "<|eot_id|>" as
// llama.cpp does, EOM "<|eom_id|>").
void detect_missing_special_ids(Vocab& vocab);

}  // namespace bitnet::tokenizer
