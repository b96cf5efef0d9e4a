// BITNET_DEBUG_LOGITS=1: after each evaluation, every position that has logits gets one stderr
// line with its top-5 (id, piece, logit); the first line of a context says how the output head
// is read (tied to token_embd or its own output.weight, stored type, type computed with).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>

namespace bitnet {

class Model;
namespace tokenizer {
class Tokenizer;
}

class LogitsDebugPrinter {
 public:
  explicit LogitsDebugPrinter(const Model& model, std::FILE* out = stderr);
  ~LogitsDebugPrinter();
  LogitsDebugPrinter(const LogitsDebugPrinter&) = delete;
  LogitsDebugPrinter& operator=(const LogitsDebugPrinter&) = delete;

  // `logits` holds `rows` rows of n_vocab values for positions first_pos, first_pos + 1, ...
  void print(int64_t first_pos, int64_t rows, std::span<const float> logits);

 private:
  const Model& model_;
  std::FILE* out_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;  // for pieces; null when the file has none
  bool head_described_ = false;
};

}  // namespace bitnet
