// Pre-tokenizer: splits text into pieces with a PCRE2 regex (UTF + UCP, JIT), keeping the text
// between matches as pieces of their own (HF's Split with behavior "Isolated").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::tokenizer {

class RegexSplitter {
 public:
  explicit RegexSplitter(const std::string& pattern);  // throws bitnet::Error (tokenizer)
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;
  ~RegexSplitter();

  // Calls on_piece(std::string_view) for each piece of `text` (valid UTF-8) in order.
  template <typename OnPiece>
  void split(std::string_view text, OnPiece&& on_piece) const {
    std::vector<std::string_view> pieces;
    split_into(text, pieces);
    for (auto p : pieces) on_piece(p);
  }
  void split_into(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace bitnet::tokenizer
