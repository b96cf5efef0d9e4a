// Tokenizers that agree byte for byte with the reference implementations:
//  - byte-level BPE (GGUF model "gpt2", pre "llama-bpe"/"llama3"; HF tokenizer.json with a
//  ByteLevel
//    pre-tokenizer): LLaMA-3, the tokenizer of BitNet b1.58 2B-4T. Golden peer: HF `tokenizers`.
//  - SentencePiece BPE (GGUF model "llama"): LLaMA-2 with scores and byte fallback, as llama.cpp
//  does.
// See docs/tokenizer.md for the rules (special tokens, BOS, invalid UTF-8, decoding).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::gguf {
class GgufFile;
class GgufWriter;
}  // namespace bitnet::gguf

namespace bitnet::tokenizer {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// Values of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

enum class VocabKind {
  byte_bpe,  // GPT-2 style byte-level BPE with merge ranks (LLaMA-3)
  spm,       // SentencePiece BPE with scores and <0xXX> byte fallback (LLaMA-2)
};

struct SpecialIds {
  TokenId bos = kNoToken;
  TokenId eos = kNoToken;
  TokenId eot = kNoToken;
  TokenId eom = kNoToken;
  TokenId pad = kNoToken;
  TokenId unk = kNoToken;
};

struct Vocab;

class Tokenizer {
 public:
  // From tokenizer.ggml.* metadata. Throws bitnet::Error (tokenizer) naming the key on bad data.
  static Tokenizer from_gguf(const gguf::GgufFile& file);
  static Tokenizer from_gguf_path(const std::string& path);
  // From a Hugging Face tokenizer.json (byte-level BPE models).
  static Tokenizer from_hf_json_path(const std::string& path);
  static Tokenizer from_hf_json(std::string_view json_text, const std::string& name = "<memory>");
  // A model file (.gguf by magic) or a tokenizer.json.
  static Tokenizer from_path(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text to ids. add_bos prepends BOS (when the vocab has one); parse_special turns the text of
  // control and unknown tokens (e.g. "<|eot_id|>") into their single id, otherwise it is plain
  // text. User-defined tokens (HF's non-special added tokens) are always matched, as in HF and
  // llama.cpp. Invalid UTF-8 is first replaced by U+FFFD per maximal ill-formed subsequence.
  std::vector<TokenId> encode(std::string_view text, bool add_bos, bool parse_special) const;

  // Ids to bytes (exact bytes; may be invalid UTF-8 if the ids split a character).
  // skip_special drops control and unknown tokens. SentencePiece vocabularies drop the one
  // leading space that encoding added, like the HF decoder.
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;

  // The bytes one token stands for (control tokens: their text). Throws on an id out of range.
  const std::string& token_to_piece(TokenId id) const;
  // The token's string as stored in the vocabulary (byte-level or "▁" encoded).
  const std::string& token_text(TokenId id) const;
  TokenId find_token(std::string_view text) const;  // exact vocabulary string, or kNoToken
  TokenType token_type(TokenId id) const;
  float token_score(TokenId id) const;

  // End of generation: EOS, EOT, EOM.
  bool is_eog(TokenId id) const;
  bool is_special(TokenId id) const;  // control, unknown or user-defined

  int32_t n_vocab() const;
  VocabKind kind() const;
  const std::string& pre() const;  // pre-tokenizer name ("llama-bpe", "default")
  const SpecialIds& special_ids() const;
  bool add_bos_default() const;  // tokenizer.ggml.add_bos_token (or the model type's default)
  bool add_eos_default() const;
  // tokenizer.chat_template when present.
  std::optional<std::string_view> chat_template() const;
  // Byte-level BPE merges as (left, right) token ids in rank order (empty for SPM).
  std::span<const std::pair<TokenId, TokenId>> merges() const;
  const Vocab& vocab() const { return *vocab_; }

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Vocab> vocab);
  std::unique_ptr<Vocab> vocab_;
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of ids into text that is always valid UTF-8 and never ends inside a character:
// bytes of a character split across tokens are held back until it is complete. A sequence that
// can never become valid is emitted as U+FFFD (per maximal ill-formed subsequence, like
// String::from_utf8_lossy). No leading-space stripping: this is for generated continuations.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(&tokenizer), skip_special_(skip_special) {}
  // Text that became complete with this token (maybe empty).
  std::string push(TokenId id);
  // Whatever is still held back (an unfinished character) as U+FFFD; resets the state.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;
};

// Writes the equivalent tokenizer.ggml.* metadata (model "gpt2", pre "llama-bpe", tokens,
// token_type, merges, BOS/EOS/...) as llama.cpp's converter does. Byte-level BPE only.
void write_tokenizer_metadata(gguf::GgufWriter& writer, const Tokenizer& tokenizer);

}  // namespace bitnet::tokenizer
