// SentencePiece BPE (LLaMA-2) as llama.cpp runs it: characters merge pairwise, highest token score
// first (leftmost on ties), a merge only when the joined text is a token; characters left without
// a token fall back to <0xXX> byte tokens.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "tokenizer/token_index.hpp"
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
  void merge_chunk(std::string_view text, std::vector<TokenId>& out) const;

  TokenIndex mergeable_;  // normal and user-defined tokens: those merges may form
  std::array<TokenId, 256> byte_to_id_;
  bool split_before_space_ = false;  // see encode()
};

}  // namespace bitnet::tokenizer
