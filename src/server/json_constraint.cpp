#include "server/json_constraint.hpp"

#include <algorithm>
#include <cmath>

namespace bitnet::server {

namespace {

bool is_ws(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr const char* kLiterals[3] = {"true", "false", "null"};
constexpr uint8_t kLiteralLength[3] = {4, 5, 4};

// Whether `s` is well-formed UTF-8 (RFC 3629) with no '"', '\' or control character below 0x20:
// such a token extends a string at a character boundary and leaves it at one.
bool plain_string_bytes(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == '"' || c == '\\') return false;
      ++i;
      continue;
    }
    int more = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + more >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= more; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if (d < lo || d > hi) return false;
      lo = 0x80;
      hi = 0xBF;
    }
    i += more + 1;
  }
  return true;
}

}  // namespace

JsonPrefix::JsonPrefix(bool require_object, int max_whitespace_run)
    : max_ws_(static_cast<uint16_t>(std::clamp(max_whitespace_run, 0, 65535))),
      flags_(require_object ? kRequireObject : 0) {}

bool JsonPrefix::feed(std::string_view bytes) {
  JsonPrefix next = *this;
  for (const char c : bytes) {
    if (!next.step(static_cast<unsigned char>(c))) return false;
  }
  *this = next;
  return true;
}

bool JsonPrefix::complete() const {
  if (mode_ == kDone) return true;
  if (depth_ != 0) return false;
  return mode_ == kNumZero || mode_ == kNumInt || mode_ == kNumFrac || mode_ == kNumExp;
}

bool JsonPrefix::whitespace() {
  if (max_ws_ != 0 && ++ws_run_ > max_ws_) return false;
  return true;
}

bool JsonPrefix::end_value() {
  mode_ = depth_ == 0 ? kDone : kAfter;
  return true;
}

bool JsonPrefix::start_value(unsigned char c) {
  switch (c) {
    case '{':
    case '[':
      if (depth_ >= kMaxDepth) return false;
      if (c == '{') {
        stack_ |= uint64_t{1} << depth_;
      } else {
        stack_ &= ~(uint64_t{1} << depth_);
      }
      ++depth_;
      mode_ = c == '{' ? kObjFirst : kArrayFirst;
      return true;
    case '"':
      flags_ &= static_cast<uint8_t>(~kInKey);
      mode_ = kStr;
      return true;
    case '-':
      mode_ = kNumMinus;
      int_digits_ = 0;
      return true;
    case '0':
      mode_ = kNumZero;
      int_digits_ = 0;
      return true;
    case 't':
    case 'f':
    case 'n':
      lit_ = c == 't' ? 0 : c == 'f' ? 1 : 2;
      aux_ = 1;
      mode_ = kLit;
      return true;
    default:
      if (c >= '1' && c <= '9') {
        mode_ = kNumInt;
        int_digits_ = 1;
        return true;
      }
      return false;
  }
}

bool JsonPrefix::step(unsigned char c) {
  if (!is_ws(c)) ws_run_ = 0;
  switch (mode_) {
    case kStart:
      if (is_ws(c)) return whitespace();
      if ((flags_ & kRequireObject) && c != '{') return false;
      return start_value(c);
    case kValue:
      if (is_ws(c)) return whitespace();
      return start_value(c);
    case kArrayFirst:
      if (is_ws(c)) return whitespace();
      if (c == ']') {
        --depth_;
        return end_value();
      }
      return start_value(c);
    case kObjFirst:
    case kObjKey:
      if (is_ws(c)) return whitespace();
      if (c == '"') {
        flags_ |= kInKey;
        mode_ = kStr;
        return true;
      }
      if (c == '}' && mode_ == kObjFirst) {
        --depth_;
        return end_value();
      }
      return false;
    case kColon:
      if (is_ws(c)) return whitespace();
      if (c != ':') return false;
      mode_ = kValue;
      return true;
    case kAfter:
      if (is_ws(c)) return whitespace();
      if (c == ',') {
        mode_ = top_is_object() ? kObjKey : kValue;
        return true;
      }
      if (c == (top_is_object() ? '}' : ']')) {
        --depth_;
        return end_value();
      }
      return false;
    case kDone:
      return is_ws(c) && whitespace();
    case kStr:
      if (c < 0x80) {
        if (c < 0x20) return false;
        if (c == '"') {
          if (flags_ & kInKey) {
            mode_ = kColon;
            return true;
          }
          return end_value();
        }
        if (c == '\\') mode_ = kStrEsc;
        return true;
      }
      lo_ = 0x80;
      hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        aux_ = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        aux_ = 2;
        if (c == 0xE0) lo_ = 0xA0;  // overlong
        if (c == 0xED) hi_ = 0x9F;  // UTF-16 surrogates
      } else if (c >= 0xF0 && c <= 0xF4) {
        aux_ = 3;
        if (c == 0xF0) lo_ = 0x90;  // overlong
        if (c == 0xF4) hi_ = 0x8F;  // above U+10FFFF
      } else {
        return false;  // continuation byte, overlong lead C0/C1, or F5..FF
      }
      mode_ = kStrUtf8;
      return true;
    case kStrUtf8:
      if (c < lo_ || c > hi_) return false;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (--aux_ == 0) mode_ = kStr;
      return true;
    case kStrEsc:
      switch (c) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          mode_ = kStr;
          return true;
        case 'u':
          mode_ = kStrHex;
          aux_ = 0;
          hex_ = 0;
          return true;
        default:
          return false;
      }
    case kStrLowEsc:
      if (c != '\\') return false;
      mode_ = kStrLowU;
      return true;
    case kStrLowU:
      if (c != 'u') return false;
      mode_ = kStrHex;
      aux_ = 0;
      hex_ = 0;
      return true;
    case kStrHex: {
      const int v = hex_value(c);
      if (v < 0) return false;
      hex_ = static_cast<uint16_t>((hex_ << 4) | v);
      ++aux_;
      // Surrogates are checked as strict parsers (nlohmann::json) do: a high surrogate
      // D800..DBFF must be followed by an escaped low one DC00..DFFF, and a lone low one is
      // rejected. The two leading hex digits decide it.
      if (flags_ & kNeedLow) {
        if (aux_ == 1 && hex_ != 0xD) return false;
        if (aux_ == 2 && (hex_ < 0xDC || hex_ > 0xDF)) return false;
      } else if (aux_ == 2 && hex_ >= 0xDC && hex_ <= 0xDF) {
        return false;
      }
      if (aux_ < 4) return true;
      if (flags_ & kNeedLow) {
        flags_ &= static_cast<uint8_t>(~kNeedLow);
        mode_ = kStr;
      } else if (hex_ >= 0xD800 && hex_ <= 0xDBFF) {
        flags_ |= kNeedLow;
        mode_ = kStrLowEsc;
      } else {
        mode_ = kStr;
      }
      return true;
    }
    case kNumMinus:
      if (c == '0') {
        mode_ = kNumZero;
        return true;
      }
      if (c >= '1' && c <= '9') {
        mode_ = kNumInt;
        int_digits_ = 1;
        return true;
      }
      return false;
    case kNumZero:
    case kNumInt:
      if (c >= '0' && c <= '9') {
        if (mode_ == kNumZero) return false;  // leading zero
        return ++int_digits_ <= kMaxMagnitude;
      }
      if (c == '.') {
        mode_ = kNumDot;
        return true;
      }
      if (c == 'e' || c == 'E') {
        mode_ = kNumE;
        exp_ = 0;
        flags_ &= static_cast<uint8_t>(~kExpNegative);
        return true;
      }
      end_value();
      return step(c);
    case kNumDot:
      if (c < '0' || c > '9') return false;
      mode_ = kNumFrac;
      return true;
    case kNumFrac:
      if (c >= '0' && c <= '9') return true;
      if (c == 'e' || c == 'E') {
        mode_ = kNumE;
        exp_ = 0;
        flags_ &= static_cast<uint8_t>(~kExpNegative);
        return true;
      }
      end_value();
      return step(c);
    case kNumE:
      if (c == '+' || c == '-') {
        if (c == '-') flags_ |= kExpNegative;
        mode_ = kNumESign;
        return true;
      }
      [[fallthrough]];
    case kNumESign:
    case kNumExp:
      if (c >= '0' && c <= '9') {
        mode_ = kNumExp;
        exp_ = static_cast<uint16_t>(std::min(exp_ * 10 + (c - '0'), 10000));
        // The value is below 10^(integer digits + exponent): keep it finite as a double.
        return (flags_ & kExpNegative) || int_digits_ + exp_ <= kMaxMagnitude;
      }
      if (mode_ != kNumExp) return false;
      end_value();
      return step(c);
    case kLit:
      if (c != static_cast<unsigned char>(kLiterals[lit_][aux_])) return false;
      if (++aux_ == kLiteralLength[lit_]) return end_value();
      return true;
  }
  return false;
}

JsonLogitsMask::JsonLogitsMask(std::vector<std::string> token_bytes,
                               std::vector<int32_t> end_tokens)
    : n_vocab_(token_bytes.size()),
      is_end_(token_bytes.size(), 0),
      pos_(token_bytes.size(), kNone) {
  for (const int32_t id : end_tokens) {
    if (id < 0 || static_cast<size_t>(id) >= n_vocab_ || is_end_[id]) continue;
    is_end_[id] = 1;
    end_tokens_.push_back(id);
  }
  begin_.assign(257, 0);
  for (size_t id = 0; id < n_vocab_; ++id) {
    if (is_end_[id]) continue;
    if (token_bytes[id].empty()) {
      never_.push_back(static_cast<int32_t>(id));
      continue;
    }
    ++begin_[static_cast<unsigned char>(token_bytes[id][0]) + 1];
  }
  for (size_t b = 1; b < begin_.size(); ++b) begin_[b] += begin_[b - 1];
  const size_t n = begin_[256];
  order_.resize(n);
  plain_.resize(n);
  offset_.resize(n + 1);
  std::vector<uint32_t> next(begin_.begin(), begin_.end() - 1);
  for (size_t id = 0; id < n_vocab_; ++id) {
    if (is_end_[id] || token_bytes[id].empty()) continue;
    const uint32_t pos = next[static_cast<unsigned char>(token_bytes[id][0])]++;
    order_[pos] = static_cast<int32_t>(id);
    pos_[id] = pos;
  }
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) total += token_bytes[order_[i]].size();
  bytes_.reserve(total);
  for (size_t i = 0; i < n; ++i) {
    const std::string& s = token_bytes[order_[i]];
    offset_[i] = static_cast<uint32_t>(bytes_.size());
    bytes_ += s;
    plain_[i] = plain_string_bytes(s) ? 1 : 0;
  }
  offset_[n] = static_cast<uint32_t>(bytes_.size());
}

bool JsonLogitsMask::allowed(const JsonPrefix& state, int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= n_vocab_) return false;
  if (is_end_[id]) return state.complete();
  if (state.complete() || pos_[id] == kNone) return false;
  const uint32_t pos = pos_[id];
  JsonPrefix next = state;
  return next.feed(std::string_view(bytes_).substr(offset_[pos], offset_[pos + 1] - offset_[pos]));
}

void JsonLogitsMask::apply(const JsonPrefix& state, std::span<float> logits) const {
  constexpr float kMasked = -INFINITY;
  const size_t n = std::min(logits.size(), n_vocab_);
  for (size_t id = n; id < logits.size(); ++id) logits[id] = kMasked;
  if (state.complete()) {
    for (size_t id = 0; id < n; ++id) {
      if (!is_end_[id]) logits[id] = kMasked;
    }
    return;
  }
  for (const int32_t id : end_tokens_) {
    if (static_cast<size_t>(id) < n) logits[id] = kMasked;
  }
  for (const int32_t id : never_) {
    if (static_cast<size_t>(id) < n) logits[id] = kMasked;
  }
  const bool in_string = state.in_string();
  const char* bytes = bytes_.data();
  for (int b = 0; b < 256; ++b) {
    const uint32_t first = begin_[b], last = begin_[b + 1];
    if (first == last) continue;
    JsonPrefix after_first = state;
    if (!after_first.step(static_cast<unsigned char>(b))) {
      for (uint32_t i = first; i < last; ++i) {
        if (static_cast<size_t>(order_[i]) < n) logits[order_[i]] = kMasked;
      }
      continue;
    }
    for (uint32_t i = first; i < last; ++i) {
      if (in_string && plain_[i]) continue;  // extends the string, whatever its bytes
      JsonPrefix s = after_first;
      bool ok = true;
      for (uint32_t k = offset_[i] + 1; k < offset_[i + 1]; ++k) {
        if (!s.step(static_cast<unsigned char>(bytes[k]))) {
          ok = false;
          break;
        }
      }
      if (!ok && static_cast<size_t>(order_[i]) < n) logits[order_[i]] = kMasked;
    }
  }
}

std::string JsonPrefix::closing_suffix() const {
  JsonPrefix s = *this;
  s.max_ws_ = 0;  // the suffix adds no whitespace, but a run may already be at its limit
  std::string out;
  const auto add = [&](std::string_view bytes) {
    if (!s.feed(bytes)) return false;
    out += bytes;
    return true;
  };
  for (int guard = 0; guard < 4 * kMaxDepth + 64 && !s.complete(); ++guard) {
    bool progressed = false;
    switch (s.mode_) {
      case kStart:
        progressed = add("{");
        break;
      case kStr:
        progressed = add("\"");
        break;
      case kStrEsc:
        progressed = add("n");
        break;
      case kStrHex:
        progressed = add("0") || add("D") || add("C");
        break;
      case kStrLowEsc:
        progressed = add("\\");
        break;
      case kStrLowU:
        progressed = add("u");
        break;
      case kStrUtf8:
        progressed = add(std::string(1, static_cast<char>(s.lo_)));
        break;
      case kValue:
      case kNumMinus:
      case kNumDot:
      case kNumE:
      case kNumESign:
        progressed = add("0");
        break;
      case kObjKey:
        progressed = add("\"\"");
        break;
      case kColon:
        progressed = add(":");
        break;
      case kLit:
        progressed = add(std::string(1, kLiterals[s.lit_][s.aux_]));
        break;
      default:  // after a value or an opening bracket, or inside a number: close the container
        progressed = s.depth_ > 0 && add(s.top_is_object() ? "}" : "]");
        break;
    }
    if (!progressed) {
      for (const char* c : {"\"", "}", "]", "0", ":", "n"}) {
        if ((progressed = add(c))) break;
      }
    }
    if (!progressed) return out;  // cannot happen for a state feed() produced
  }
  return out;
}

}  // namespace bitnet::server
