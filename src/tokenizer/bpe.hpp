// Byte-level BPE (GPT-2 / LLaMA-3): merges by rank over the bytes of one pre-tokenized word.
#pragma once

#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/regex_splitter.hpp"
#include "tokenizer/token_index.hpp"
#include "tokenizer/utf8.hpp"
#include "tokenizer/vocab.hpp"

namespace bitnet::tokenizer {

class BytePairEncoder {
 public:
  // `pieces[i]` is the raw bytes of token i; both must outlive the encoder.
  BytePairEncoder(const Vocab& vocab, const std::vector<std::string>& pieces);

  // Appends the ids of `text` (valid UTF-8, no special tokens) to `out`.
  void encode(std::string_view text, std::vector<TokenId>& out) const;

 private:
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;
  void merge_word(std::string_view word, std::vector<TokenId>& out) const;

  const Vocab& vocab_;
  RegexSplitter splitter_;
  const std::vector<std::string>& pieces_;
  TokenIndex word_to_id_;  // raw bytes (pieces_) -> model token
  std::array<TokenId, 256> byte_to_id_;
  MergeTable merges_;

  // Words seen before (text is Zipfian: most words repeat). Bounded; cleared when full.
  static constexpr size_t kCacheLimit = 1 << 16;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<TokenId>> cache_;
};

}  // namespace bitnet::tokenizer
