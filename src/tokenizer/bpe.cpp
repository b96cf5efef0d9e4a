#include "tokenizer/bpe.hpp"

#include <queue>

#include "bitnet/error.hpp"

namespace bitnet::tokenizer {

BytePairEncoder::BytePairEncoder(const Vocab& vocab, const std::vector<std::string>& pieces)
    : vocab_(vocab), splitter_(vocab.split_regex), pieces_(pieces) {
  // Only the BPE model's own tokens: added tokens are matched before pre-tokenization.
  const auto is_model_token = [&](size_t i) {
    return vocab.types[i] == TokenType::normal || vocab.types[i] == TokenType::byte;
  };
  word_to_id_.build(pieces, is_model_token);
  byte_to_id_.fill(kNoToken);
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (!is_model_token(i) || pieces[i].size() != 1) continue;
    auto& slot = byte_to_id_[static_cast<uint8_t>(pieces[i][0])];
    if (slot == kNoToken) slot = static_cast<TokenId>(i);
  }
  merges_.reserve(vocab.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const auto [left, right] = vocab.merges[rank];
    joined.assign(vocab.tokens[left]);
    joined.append(vocab.tokens[right]);
    const TokenId result = vocab.index.find(joined, vocab.tokens);
    if (result == kNoToken) {
      throw Error(ErrorCategory::tokenizer,
                  vocab.source + ": merges (tokenizer.ggml.merges): merge " + std::to_string(rank) +
                      " '" + vocab.tokens[left] + " " + vocab.tokens[right] +
                      "' makes a token that is not in the vocabulary");
    }
    // The first (lowest-rank) occurrence of a pair wins, as in HF.
    merges_.insert(left, right, {static_cast<int32_t>(rank), result});
  }
}

void BytePairEncoder::encode(std::string_view text, std::vector<TokenId>& out) const {
  std::vector<std::string_view> words;
  splitter_.split_into(text, words);
  for (auto word : words) encode_word(word, out);
}

void BytePairEncoder::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (vocab_.ignore_merges) {
    if (const TokenId id = word_to_id_.find(word, pieces_); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  if (word.size() == 1) {
    merge_word(word, out);
    return;
  }
  {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(std::string(word)); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_word(word, out);
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(std::string(word), std::vector<TokenId>(out.begin() + first, out.end()));
}

// Repeatedly merges the adjacent pair of lowest rank (leftmost first), with a heap of candidate
// pairs and a linked list of symbols: O(n log n) in the word length.
void BytePairEncoder::merge_word(std::string_view word, std::vector<TokenId>& out) const {
  struct Symbol {
    TokenId id;
    int prev;
    int next;
  };
  struct Candidate {
    int32_t rank;
    int left;
    TokenId left_id;
    TokenId right_id;
    TokenId result;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const TokenId id = byte_to_id_[static_cast<uint8_t>(word[i])];
    // A byte without a token (not in a complete byte-level vocab) is dropped, as HF does
    // without an unk token.
    if (id == kNoToken) continue;
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({id, index - 1, -1});
    if (index > 0) symbols[index - 1].next = index;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto consider = [&](int left) {
    if (left < 0) return;
    const int right = symbols[left].next;
    if (right < 0) return;
    const auto* merge = merges_.find(symbols[left].id, symbols[right].id);
    if (merge == nullptr) return;
    heap.push({merge->rank, left, symbols[left].id, symbols[right].id, merge->result});
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i);
  while (!heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    Symbol& left = symbols[top.left];
    // Stale: the left symbol was merged away or changed, or its right neighbour changed.
    if (left.id != top.left_id || left.next < 0 || symbols[left.next].id != top.right_id) continue;
    const int right_index = left.next;
    Symbol& right = symbols[right_index];
    left.id = top.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    right.id = kNoToken;  // dead
    consider(left.prev);
    consider(top.left);
  }
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace bitnet::tokenizer
