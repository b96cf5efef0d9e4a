#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex_splitter.hpp"

#include <pcre2.h>

#include "bitnet/error.hpp"

namespace bitnet::tokenizer {

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

namespace {
std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

struct MatchData {
  pcre2_match_data* data;
  explicit MatchData(const pcre2_code* code)
      : data(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (!data) throw Error(ErrorCategory::memory, "pcre2_match_data_create failed");
  }
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

// Oniguruma (HF) and llama.cpp take \s as Unicode White_Space. PCRE2's \s also matches U+180E
// (it follows \h, which keeps that character for compatibility), so \s and \S are spelled as the
// White_Space property, which PCRE2 knows (10.40+).
std::string with_white_space_property(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += "\\p{White_Space}";
      } else if (next == 'S') {
        out += "\\P{White_Space}";
      } else {
        out += '\\';
        out += next;
      }
    } else {
      out += pattern[i];
    }
  }
  return out;
}
}  // namespace

RegexSplitter::RegexSplitter(const std::string& source_pattern)
    : compiled_(std::make_unique<Compiled>()) {
  const std::string pattern = with_white_space_property(source_pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // UCP: \p{L}, \p{N} and case-insensitive matching follow Unicode properties.
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                  PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (!compiled_->code) {
    throw Error(ErrorCategory::tokenizer, "pre-tokenizer regex does not compile at offset " +
                                              std::to_string(offset) + ": " + pcre2_message(error) +
                                              " (pattern " + pattern + ")");
  }
  // JIT is an optimisation only: the interpreter gives the same matches when it is unavailable.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;
RegexSplitter::~RegexSplitter() = default;

void RegexSplitter::split_into(std::string_view text, std::vector<std::string_view>& pieces) const {
  MatchData match(compiled_->code);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;  // first byte not yet emitted
  size_t search = 0;
  while (search < text.size()) {
    const int rc = pcre2_match(compiled_->code, subject, text.size(), search, PCRE2_NO_UTF_CHECK,
                               match.data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      throw Error(ErrorCategory::tokenizer, "pre-tokenizer regex failed: " + pcre2_message(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
    const size_t begin = ovector[0], end = ovector[1];
    if (begin > start) pieces.push_back(text.substr(start, begin - start));
    if (end > begin) {
      pieces.push_back(text.substr(begin, end - begin));
      start = end;
      search = end;
    } else {
      // An empty match: step over one character so the loop always advances.
      search = begin + 1;
      while (search < text.size() && (static_cast<uint8_t>(text[search]) & 0xC0) == 0x80) ++search;
    }
  }
  if (start < text.size()) pieces.push_back(text.substr(start));
}

}  // namespace bitnet::tokenizer
