#include "tokenizer/spm.hpp"

#include <cstdio>
#include <queue>

#include "tokenizer/utf8.hpp"

namespace bitnet::tokenizer {

namespace {
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space
}

SentencePieceEncoder::SentencePieceEncoder(const Vocab& vocab) : vocab_(vocab) {
  byte_to_id_.fill(kNoToken);
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const auto id = static_cast<TokenId>(i);
    const auto& text = vocab.tokens[i];
    if (vocab.types[i] == TokenType::byte) {
      unsigned value = 0;
      char end = 0;
      if (text.size() == 6 && std::sscanf(text.c_str(), "<0x%2X%c", &value, &end) == 2 &&
          end == '>') {
        byte_to_id_[value & 0xFF] = id;
      }
    }
  }
  // Control and unknown tokens ("<s>", "<unk>") are never formed from text.
  mergeable_.build(vocab.tokens, [&](size_t i) {
    return vocab.types[i] == TokenType::normal || vocab.types[i] == TokenType::user_defined;
  });
  split_before_space_ = true;
  for (const std::string_view token : vocab.tokens) {
    size_t first_other = 0;
    while (token.compare(first_other, kSpaceMark.size(), kSpaceMark) == 0)
      first_other += kSpaceMark.size();
    if (token.find(kSpaceMark, first_other) != std::string_view::npos) split_before_space_ = false;
  }
}

void SentencePieceEncoder::encode(std::string_view fragment, bool space_prefix,
                                  std::vector<TokenId>& out) const {
  std::string text;
  text.reserve(fragment.size() * 3 / 2 + 3);
  if (space_prefix) text.append(kSpaceMark);
  for (char c : fragment) {
    if (c == ' ') {
      text.append(kSpaceMark);
    } else {
      text.push_back(c);
    }
  }
  if (!split_before_space_) {
    merge_chunk(text, out);
    return;
  }
  // No token has "▁" after another character, so no merge crosses the start of a "▁" that follows
  // a non-"▁" character: the chunks between such points merge independently, with the same result
  // as the whole text at once, and far less work (a small queue per chunk).
  const std::string_view all(text);
  size_t chunk_start = 0;
  bool previous_is_space = false;
  for (size_t i = 0; i < all.size();) {
    const bool is_space = all.compare(i, kSpaceMark.size(), kSpaceMark) == 0;
    if (is_space && !previous_is_space && i > chunk_start) {
      merge_chunk(all.substr(chunk_start, i - chunk_start), out);
      chunk_start = i;
    }
    previous_is_space = is_space;
    i += is_space ? kSpaceMark.size() : 1;
  }
  merge_chunk(all.substr(chunk_start), out);
}

void SentencePieceEncoder::merge_chunk(std::string_view text, std::vector<TokenId>& out) const {
  if (text.empty()) return;
  struct Symbol {
    size_t start;
    size_t length;  // 0: merged into its left neighbour
    int prev;
    int next;
  };
  std::vector<Symbol> symbols;
  for (size_t i = 0; i < text.size();) {
    const size_t length = next_utf8_sequence(text.substr(i)).length;
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({i, length, index - 1, -1});
    if (index > 0) symbols[index - 1].next = index;
    i += length;
  }
  struct Bigram {
    float score;
    int left;
    int right;
    size_t length;
    bool operator<(const Bigram& o) const {  // max-heap: best score, then leftmost
      return score != o.score ? score < o.score : left > o.left;
    }
  };
  std::priority_queue<Bigram> queue;
  const auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t length = symbols[left].length + symbols[right].length;
    const TokenId id = mergeable_.find(text.substr(symbols[left].start, length), vocab_.tokens);
    if (id == kNoToken) return;
    queue.push({vocab_.scores[id], left, right, length});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) consider(i - 1, i);

  while (!queue.empty()) {
    const Bigram top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    // Stale: one side was merged meanwhile.
    if (left.length == 0 || right.length == 0 || left.length + right.length != top.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    consider(left.prev, top.left);
    consider(top.left, left.next);
  }

  for (int i = 0; i >= 0; i = symbols[i].next) {
    const auto piece = text.substr(symbols[i].start, symbols[i].length);
    if (const TokenId id = mergeable_.find(piece, vocab_.tokens); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const TokenId byte = byte_to_id_[static_cast<uint8_t>(c)];
      if (byte != kNoToken) {
        out.push_back(byte);
      } else if (vocab_.special.unk != kNoToken) {
        out.push_back(vocab_.special.unk);
      }
    }
  }
}

}  // namespace bitnet::tokenizer
