#include "trace/debug_logits.hpp"

#include <string>

#include "bitnet/error.hpp"
#include "crossval/metrics.hpp"
#include "model/model.hpp"
#include "quant/tensor_type.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet {
namespace {

// Bytes outside printable ASCII as \xNN, so a line stays one line.
std::string escape_piece(const std::string& piece) {
  std::string out;
  for (const char ch : piece) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace

LogitsDebugPrinter::LogitsDebugPrinter(const Model& model, std::FILE* out)
    : model_(model), out_(out) {
  try {
    tokenizer_ =
        std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::from_gguf(model.file()));
  } catch (const Error&) {
    tokenizer_.reset();  // ids only
  }
}

LogitsDebugPrinter::~LogitsDebugPrinter() = default;

void LogitsDebugPrinter::print(int64_t first_pos, int64_t rows, std::span<const float> logits) {
  const auto& c = model_.config();
  const auto& w = model_.weights();
  if (!head_described_) {
    head_described_ = true;
    const auto stored = std::string(to_string(w.output.type));
    const auto computed =
        w.output_quantized.empty() ? stored : std::string(to_string(w.output_quantized.type));
    std::fprintf(out_,
                 "debug-logits: head %s (%s), stored %s, computed as %s, %lld x %lld, vocab %lld\n",
                 c.tied_output ? "tied" : "untied",
                 c.tied_output ? "reads token_embd.weight" : "reads output.weight", stored.c_str(),
                 computed.c_str(), static_cast<long long>(w.output.rows),
                 static_cast<long long>(w.output.cols), static_cast<long long>(c.n_vocab));
  }
  const auto n_vocab = static_cast<size_t>(c.n_vocab);
  constexpr int kTop = 5;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = logits.data() + static_cast<size_t>(r) * n_vocab;
    const auto top = crossval::top_k({row, n_vocab}, kTop);  // ties: the lower id first
    std::string line = "debug-logits: pos " + std::to_string(first_pos + r) + " top" +
                       std::to_string(top.size()) + ":";
    for (size_t j = 0; j < top.size(); ++j) {
      const int32_t id = top[j];
      char value[32];
      std::snprintf(value, sizeof value, "%.6g", static_cast<double>(row[id]));
      line += " " + std::to_string(id);
      if (tokenizer_ && id < tokenizer_->n_vocab())
        line += " \"" + escape_piece(tokenizer_->token_to_piece(id)) + "\"";
      line += std::string(" ") + value;
      if (j + 1 < top.size()) line += ",";
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out_);
  }
  std::fflush(out_);
}

}  // namespace bitnet
