// JSON-constrained decoding for `response_format: {"type": "json_object"}`.
//
// JsonPrefix is an incremental RFC 8259 validator: it accepts exactly the byte strings that are a
// prefix of some valid JSON text (with a nesting limit), and says when the text is one complete
// value. Its state is a few fixed-size fields (no heap), so copying it is cheap: JsonLogitsMask
// copies it once per vocabulary token to find which tokens may come next.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::server {

class JsonPrefix {
 public:
  static constexpr int kMaxDepth = 64;  // nesting deeper than this is rejected
  // Numbers must stay below 10^308 in magnitude (integer digits + positive exponent <= 308), so
  // that they are finite as doubles: strict parsers (nlohmann::json) reject an overflowing
  // number. This rejects a few finite values (1e308, 0.1e309) that RFC 8259 allows.
  static constexpr int kMaxMagnitude = 308;

  // require_object: the top-level value must be an object (what json_object mode asks for).
  // max_whitespace_run: if > 0, at most that many consecutive whitespace bytes between tokens
  // (outside strings) are accepted, so a model cannot pad the reply with whitespace forever.
  explicit JsonPrefix(bool require_object = true, int max_whitespace_run = 0);

  // Extends the text by `bytes`. Returns false, leaving the state unchanged, when the result would
  // not be a prefix of any valid JSON text. Multi-byte UTF-8 may be split across calls.
  bool feed(std::string_view bytes);
  // The bytes so far form one complete JSON value (plus optional whitespace). In object mode this
  // holds once the top-level object is closed; a top-level number (only without require_object)
  // counts as complete as soon as it is a valid number, although it could still be extended.
  bool complete() const;
  // The shortest bytes (by this rule: close the string, give a waiting key `:null` or a waiting
  // value `0`, then close every open container) that make the text complete; "" when it is.
  // Lets a reply that is about to run out of tokens end as valid JSON.
  std::string closing_suffix() const;
  // Current nesting depth (0 at top level).
  int depth() const { return depth_; }
  // Inside a string, between characters (not in an escape or a multi-byte sequence).
  bool in_string() const { return mode_ == kStr; }

  bool operator==(const JsonPrefix&) const = default;

 private:
  friend class JsonLogitsMask;

  enum Mode : uint8_t {
    kStart,       // before the top-level value
    kValue,       // a value must come (after ':' or after ',' in an array)
    kArrayFirst,  // after '[': a value or ']'
    kObjFirst,    // after '{': a key or '}'
    kObjKey,      // after ',' in an object: a key
    kColon,       // after a key
    kAfter,       // after a value inside a container: ',' or the closing bracket
    kDone,        // the top-level value is complete: whitespace only
    kStr,         // inside a string, between characters
    kStrEsc,      // after '\'
    kStrHex,      // in \uXXXX, aux_ digits read, hex_ their value
    kStrUtf8,     // in a multi-byte UTF-8 sequence: aux_ bytes left, next in [lo_, hi_]
    kStrLowEsc,   // after a high surrogate escape: '\' must follow
    kStrLowU,     // ... then 'u'
    kNumMinus,    // "-"
    kNumZero,     // "0" or "-0"
    kNumInt,      // [1-9] digits
    kNumDot,      // "." needs a digit
    kNumFrac,     // fraction digits
    kNumE,        // "e" needs a sign or digit
    kNumESign,    // "e+" needs a digit
    kNumExp,      // exponent digits
    kLit,         // in true/false/null: lit_ which, aux_ bytes matched
  };
  enum Flags : uint8_t { kRequireObject = 1, kInKey = 2, kNeedLow = 4, kExpNegative = 8 };

  bool step(unsigned char c);
  bool start_value(unsigned char c);
  bool end_value();
  bool whitespace();
  bool top_is_object() const { return (stack_ >> (depth_ - 1)) & 1u; }

  uint64_t stack_ = 0;       // bit i: level i+1 is an object (1) or an array (0)
  uint16_t hex_ = 0;         // \uXXXX value so far
  uint16_t int_digits_ = 0;  // integer digits of the number being read
  uint16_t exp_ = 0;         // its exponent so far (clamped)
  uint16_t ws_run_ = 0;
  uint16_t max_ws_ = 0;
  uint8_t depth_ = 0;
  Mode mode_ = kStart;
  uint8_t flags_ = 0;
  uint8_t aux_ = 0;
  uint8_t lit_ = 0;
  uint8_t lo_ = 0;
  uint8_t hi_ = 0;
};

// Masks the logits of every token that cannot extend the JSON text so far. Built once per model.
class JsonLogitsMask {
 public:
  // token_bytes[id]: the exact bytes token `id` decodes to; "" for special/control tokens, which
  // are never allowed. end_tokens: EOS/EOT ids, allowed exactly when the value is complete.
  JsonLogitsMask(std::vector<std::string> token_bytes, std::vector<int32_t> end_tokens);

  // logits[id] = -INFINITY for every token `state` rejects, for the end tokens unless
  // state.complete(), and for every non-end token once it is complete. Entries past the vocabulary
  // (padded logits) are masked too.
  void apply(const JsonPrefix& state, std::span<float> logits) const;

  // Whether token `id` is allowed after `state` (what apply() leaves unmasked).
  bool allowed(const JsonPrefix& state, int32_t id) const;

  size_t n_vocab() const { return n_vocab_; }

 private:
  static constexpr uint32_t kNone = 0xffffffffu;
  size_t n_vocab_ = 0;
  std::vector<int32_t> end_tokens_;
  std::vector<int32_t> never_;    // empty-bytes tokens (not end tokens)
  std::vector<int32_t> order_;    // token ids grouped by first byte
  std::vector<uint32_t> begin_;   // 257 entries: group b is order_[begin_[b], begin_[b+1])
  std::vector<uint32_t> offset_;  // per position in order_: its bytes in bytes_ (+1 entry)
  std::vector<uint8_t> plain_;    // per position: valid UTF-8 without '"', '\' or controls
  std::vector<uint8_t> is_end_;   // per id
  std::vector<uint32_t> pos_;     // per id: its position in order_ (kNone if never/end)
  std::string bytes_;
};

}  // namespace bitnet::server
