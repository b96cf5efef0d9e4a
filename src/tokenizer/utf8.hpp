// UTF-8 validation and repair, and GPT-2's byte <-> printable-character mapping.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bitnet::tokenizer {

// The sequence at the start of `s` (non-empty): its length in bytes and whether it is a
// well-formed character. For an ill-formed one, the length is that of the maximal subpart
// (Unicode 15, section 3.9, "U+FFFD substitution of maximal subparts"), at least 1.
struct Utf8Sequence {
  size_t length;
  bool valid;
};
Utf8Sequence next_utf8_sequence(std::string_view s);

bool is_valid_utf8(std::string_view s);
// Replaces every maximal ill-formed subsequence by U+FFFD (what Python's
// bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy do).
std::string repair_utf8(std::string_view s);
// Decodes one valid sequence (as checked by next_utf8_sequence).
uint32_t decode_utf8(std::string_view s, size_t length);
void append_utf8(std::string& out, uint32_t code_point);

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// GPT-2's bytes_to_unicode: every byte has a printable stand-in character; byte-level BPE
// vocabularies store tokens in that alphabet.
class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();
  const std::string& encode(uint8_t byte) const { return byte_to_utf8_[byte]; }
  // Token string in the alphabet -> raw bytes. False when a character is not in the alphabet.
  bool decode(std::string_view text, std::string& out) const;

 private:
  std::array<std::string, 256> byte_to_utf8_;
  std::array<int16_t, 324> code_point_to_byte_;  // stand-ins are all below U+0144
};

}  // namespace bitnet::tokenizer
