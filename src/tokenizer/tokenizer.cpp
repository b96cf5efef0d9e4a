// Tokenizer: special-token splitting, dispatch to the BPE or SentencePiece encoder, decoding.
#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/spm.hpp"
#include "tokenizer/utf8.hpp"
#include "tokenizer/vocab.hpp"

namespace bitnet::tokenizer {

namespace {
bool is_special_type(TokenType type) {
  return type == TokenType::control || type == TokenType::user_defined ||
         type == TokenType::unknown;
}

// Token i's bytes: byte-level tokens are decoded from GPT-2's alphabet, SentencePiece tokens
// have "▁" for space and <0xXX> for bytes, special tokens stand for their text.
std::vector<std::string> make_pieces(const Vocab& vocab) {
  std::vector<std::string> pieces(vocab.tokens.size());
  const ByteLevelAlphabet alphabet;
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const auto& text = vocab.tokens[i];
    const auto type = vocab.types[i];
    auto& piece = pieces[i];
    if (is_special_type(type) || type == TokenType::unused) {
      piece = text;
    } else if (vocab.kind == VocabKind::byte_bpe) {
      piece.reserve(text.size());
      if (!alphabet.decode(text, piece)) piece = text;
    } else if (type == TokenType::byte) {
      unsigned value = 0;
      char end = 0;
      if (text.size() == 6 && std::sscanf(text.c_str(), "<0x%2X%c", &value, &end) == 2 &&
          end == '>') {
        piece.assign(1, static_cast<char>(value));
      } else {
        piece = text;
      }
    } else {
      for (size_t j = 0; j < text.size();) {
        if (text.compare(j, 3, "\xE2\x96\x81") == 0) {
          piece.push_back(' ');
          j += 3;
        } else {
          piece.push_back(text[j++]);
        }
      }
    }
  }
  return pieces;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io, path + ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(ErrorCategory::io, path + ": read failed");
  return buffer.str();
}
}  // namespace

struct Tokenizer::Impl {
  struct SpecialText {
    std::string_view text;
    TokenId id;
    bool always;  // user-defined tokens split the text even without parse_special (HF, llama.cpp)
  };

  const Vocab& vocab;
  std::vector<std::string> pieces;
  // Special tokens by first byte, longest first, for leftmost-longest matching in text.
  std::array<std::vector<SpecialText>, 256> specials_by_first_byte;
  std::optional<BytePairEncoder> bpe;
  std::optional<SentencePieceEncoder> spm;
  bool has_user_defined = false;

  explicit Impl(const Vocab& v) : vocab(v), pieces(make_pieces(v)) {
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      if (is_special_type(v.types[i]) && !v.tokens[i].empty()) {
        const bool always = v.types[i] == TokenType::user_defined;
        has_user_defined |= always;
        specials_by_first_byte[static_cast<uint8_t>(v.tokens[i][0])].push_back(
            {v.tokens[i], static_cast<TokenId>(i), always});
      }
    }
    for (auto& list : specials_by_first_byte) {
      std::stable_sort(list.begin(), list.end(), [](const SpecialText& a, const SpecialText& b) {
        return a.text.size() > b.text.size();
      });
    }
    if (v.kind == VocabKind::byte_bpe) {
      bpe.emplace(v, pieces);
    } else {
      spm.emplace(v);
    }
  }

  // The special token that starts at `pos`, longest first; null when none does.
  const SpecialText* special_at(std::string_view text, size_t pos, bool parse_special) const {
    for (const auto& candidate : specials_by_first_byte[static_cast<uint8_t>(text[pos])]) {
      if ((parse_special || candidate.always) && text.size() - pos >= candidate.text.size() &&
          std::memcmp(text.data() + pos, candidate.text.data(), candidate.text.size()) == 0) {
        return &candidate;
      }
    }
    return nullptr;
  }

  void encode_fragment(std::string_view fragment, bool after_special,
                       std::vector<TokenId>& out) const {
    if (bpe) {
      if (!fragment.empty()) bpe->encode(fragment, out);
    } else {
      // llama.cpp and HF put the SentencePiece space prefix on every text fragment that starts the
      // input or follows a special token.
      if (!fragment.empty()) spm->encode(fragment, after_special && vocab.add_space_prefix, out);
    }
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Vocab> vocab) : vocab_(std::move(vocab)) {
  if (vocab_->index.empty()) vocab_->index.build(vocab_->tokens);
  impl_ = std::make_unique<Impl>(*vocab_);
}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_gguf(const gguf::GgufFile& file) {
  return Tokenizer(std::make_unique<Vocab>(load_vocab_gguf(file)));
}

Tokenizer Tokenizer::from_gguf_path(const std::string& path) {
  return from_gguf(gguf::GgufFile::open(path));
}

Tokenizer Tokenizer::from_hf_json(std::string_view json_text, const std::string& name) {
  return Tokenizer(std::make_unique<Vocab>(load_vocab_hf_json(json_text, name)));
}

Tokenizer Tokenizer::from_hf_json_path(const std::string& path) {
  return from_hf_json(read_file(path), path);
}

Tokenizer Tokenizer::from_path(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io, path + ": cannot open");
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) return from_gguf_path(path);
  return from_hf_json_path(path);
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = repair_utf8(text);
    text = repaired;
  }
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_->special.bos != kNoToken) out.push_back(vocab_->special.bos);

  bool after_special = true;  // the start of the text counts as "after a special token"
  size_t fragment_start = 0;
  if (parse_special || impl_->has_user_defined) {
    for (size_t pos = 0; pos < text.size();) {
      const auto* special = impl_->special_at(text, pos, parse_special);
      if (special == nullptr) {
        ++pos;
        continue;
      }
      if (pos > fragment_start) {
        impl_->encode_fragment(text.substr(fragment_start, pos - fragment_start), after_special,
                               out);
      }
      out.push_back(special->id);
      after_special = true;
      pos += special->text.size();
      fragment_start = pos;
    }
  }
  if (fragment_start < text.size()) {
    impl_->encode_fragment(text.substr(fragment_start), after_special, out);
  }
  return out;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  std::string out;
  for (const TokenId id : ids) {
    if (skip_special && is_special(id) && token_type(id) != TokenType::user_defined) continue;
    out.append(token_to_piece(id));
  }
  if (vocab_->kind == VocabKind::spm && vocab_->add_space_prefix && !out.empty() && out[0] == ' ') {
    out.erase(0, 1);
  }
  return out;
}

namespace {
[[noreturn]] void bad_id(TokenId id, size_t n_vocab) {
  throw Error(
      ErrorCategory::tokenizer,
      "token id " + std::to_string(id) + " out of range (n_vocab " + std::to_string(n_vocab) + ")");
}
}  // namespace

const std::string& Tokenizer::token_to_piece(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->pieces.size()) bad_id(id, impl_->pieces.size());
  return impl_->pieces[id];
}

const std::string& Tokenizer::token_text(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_->tokens.size()) bad_id(id, vocab_->tokens.size());
  return vocab_->tokens[id];
}

TokenId Tokenizer::find_token(std::string_view text) const {
  return vocab_->index.find(text, vocab_->tokens);
}

TokenType Tokenizer::token_type(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_->types.size()) bad_id(id, vocab_->types.size());
  return vocab_->types[id];
}

float Tokenizer::token_score(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_->tokens.size()) bad_id(id, vocab_->tokens.size());
  return vocab_->scores.empty() ? 0.0f : vocab_->scores[id];
}

bool Tokenizer::is_eog(TokenId id) const {
  const auto& s = vocab_->special;
  return id != kNoToken && (id == s.eos || id == s.eot || id == s.eom);
}

bool Tokenizer::is_special(TokenId id) const {
  return is_special_type(token_type(id));
}

int32_t Tokenizer::n_vocab() const {
  return static_cast<int32_t>(vocab_->tokens.size());
}
VocabKind Tokenizer::kind() const {
  return vocab_->kind;
}
const std::string& Tokenizer::pre() const {
  return vocab_->pre;
}
const SpecialIds& Tokenizer::special_ids() const {
  return vocab_->special;
}
bool Tokenizer::add_bos_default() const {
  return vocab_->add_bos;
}
bool Tokenizer::add_eos_default() const {
  return vocab_->add_eos;
}

std::optional<std::string_view> Tokenizer::chat_template() const {
  if (vocab_->chat_template.empty()) return std::nullopt;
  return vocab_->chat_template;
}

std::span<const std::pair<TokenId, TokenId>> Tokenizer::merges() const {
  return vocab_->merges;
}

std::string StreamDecoder::push(TokenId id) {
  if (skip_special_ && tokenizer_->is_special(id) &&
      tokenizer_->token_type(id) != TokenType::user_defined) {
    return {};
  }
  pending_.append(tokenizer_->token_to_piece(id));
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const auto rest = std::string_view(pending_).substr(i);
    const auto seq = next_utf8_sequence(rest);
    if (seq.valid) {
      out.append(rest.substr(0, seq.length));
    } else if (seq.length == rest.size() && static_cast<uint8_t>(rest[0]) >= 0xC2 &&
               static_cast<uint8_t>(rest[0]) <= 0xF4) {
      break;  // a character that the next token may complete
    } else {
      out.append(kReplacementCharacter);
    }
    i += seq.length;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = pending_.empty() ? std::string() : repair_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace bitnet::tokenizer
