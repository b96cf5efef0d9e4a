#include "tokenizer/utf8.hpp"

namespace bitnet::tokenizer {

namespace {
bool in(uint8_t b, uint8_t lo, uint8_t hi) {
  return b >= lo && b <= hi;
}

// Allowed range of the second byte for a given lead byte (Unicode Table 3-7).
void second_byte_range(uint8_t lead, uint8_t& lo, uint8_t& hi) {
  lo = 0x80;
  hi = 0xBF;
  if (lead == 0xE0) lo = 0xA0;
  if (lead == 0xED) hi = 0x9F;
  if (lead == 0xF0) lo = 0x90;
  if (lead == 0xF4) hi = 0x8F;
}
}  // namespace

Utf8Sequence next_utf8_sequence(std::string_view s) {
  const auto lead = static_cast<uint8_t>(s[0]);
  if (lead < 0x80) return {1, true};
  size_t need = 0;
  if (in(lead, 0xC2, 0xDF)) {
    need = 2;
  } else if (in(lead, 0xE0, 0xEF)) {
    need = 3;
  } else if (in(lead, 0xF0, 0xF4)) {
    need = 4;
  } else {
    return {1, false};
  }
  uint8_t lo = 0, hi = 0;
  second_byte_range(lead, lo, hi);
  size_t i = 1;
  for (; i < need; ++i) {
    if (i >= s.size()) return {i, false};
    const auto b = static_cast<uint8_t>(s[i]);
    if (!(i == 1 ? in(b, lo, hi) : in(b, 0x80, 0xBF))) return {i, false};
  }
  return {need, true};
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const auto seq = next_utf8_sequence(s.substr(i));
    if (!seq.valid) return false;
    i += seq.length;
  }
  return true;
}

std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const auto seq = next_utf8_sequence(s.substr(i));
    if (seq.valid) {
      out.append(s.substr(i, seq.length));
    } else {
      out.append(kReplacementCharacter);
    }
    i += seq.length;
  }
  return out;
}

uint32_t decode_utf8(std::string_view s, size_t length) {
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i])); };
  switch (length) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

ByteLevelAlphabet::ByteLevelAlphabet() {
  code_point_to_byte_.fill(-1);
  // Printable Latin-1 bytes stand for themselves; the others get U+0100 upwards in byte order.
  uint32_t next = 256;
  for (int byte = 0; byte < 256; ++byte) {
    const bool printable = in(static_cast<uint8_t>(byte), '!', '~') ||
                           in(static_cast<uint8_t>(byte), 0xA1, 0xAC) ||
                           in(static_cast<uint8_t>(byte), 0xAE, 0xFF);
    const uint32_t cp = printable ? static_cast<uint32_t>(byte) : next++;
    append_utf8(byte_to_utf8_[byte], cp);
    code_point_to_byte_[cp] = static_cast<int16_t>(byte);
  }
}

bool ByteLevelAlphabet::decode(std::string_view text, std::string& out) const {
  size_t i = 0;
  while (i < text.size()) {
    const auto seq = next_utf8_sequence(text.substr(i));
    if (!seq.valid) return false;
    const uint32_t cp = decode_utf8(text.substr(i), seq.length);
    if (cp >= code_point_to_byte_.size() || code_point_to_byte_[cp] < 0) return false;
    out.push_back(static_cast<char>(code_point_to_byte_[cp]));
    i += seq.length;
  }
  return true;
}

}  // namespace bitnet::tokenizer
