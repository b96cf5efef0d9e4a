// SentencePiece BPE (LLaMA-2) as llama.cpp runs it: characters merge pairwise, highest token score
// first (leftmost on ties), a merge only when the joined text is a token; characters left without
// a token fall back to <0xXX> byte tokens.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tokenizer/vocab.hpp"

namespace bitnet::tokenizer {

class SentencePieceEncoder {
 public:
  explicit SentencePieceEncoder(const Vocab& vocab);

  // Appends the ids of one fragment of text (valid UTF-8, no special tokens). `space_prefix`
  // puts a space before it (start of text, or after a special token).
  void encode(std::string_view text, bool space_prefix, std::vector<TokenId>& out) const;

 private:
  const Vocab& vocab_;
  std::unordered_map<std::string_view, TokenId> text_to_id_;  // tokens that merges may form
  std::array<TokenId, 256> byte_to_id_;
};

}  // namespace bitnet::tokenizer
