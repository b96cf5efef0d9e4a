// libFuzzer: the incremental JSON validator behind response_format json_object. The first byte
// picks the options and a split point; the rest is the text. Feeding it byte by byte, all at
// once and in two pieces must agree, and whenever the validator says the text is complete,
// nlohmann::json must parse it (as an object when one is required).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "server/json_constraint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool require_object = (data[0] & 1) == 0;
  const int max_ws = (data[0] >> 1) & 3;  // 0 (unlimited) to 3
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  using bitnet::server::JsonPrefix;

  JsonPrefix bytewise(require_object, max_ws);
  size_t accepted = 0;  // bytes accepted one at a time before the first rejection
  for (; accepted < text.size(); ++accepted) {
    const JsonPrefix before = bytewise;
    if (!bytewise.feed(text.substr(accepted, 1))) {
      if (!(bytewise == before)) std::abort();  // a rejection must leave the state unchanged
      break;
    }
    if (bytewise.complete()) {
      const auto parsed = nlohmann::json::parse(text.substr(0, accepted + 1), nullptr, false);
      if (parsed.is_discarded()) std::abort();
      if (require_object && !parsed.is_object()) std::abort();
    }
  }

  JsonPrefix whole(require_object, max_ws);
  const bool all_ok = whole.feed(text);
  if (all_ok != (accepted == text.size())) std::abort();
  JsonPrefix prefix(require_object, max_ws);
  if (!prefix.feed(text.substr(0, accepted))) std::abort();
  if (!(prefix == bytewise)) std::abort();
  if (all_ok && !(whole == bytewise)) std::abort();

  const size_t split = text.empty() ? 0 : (size_t{data[0]} * 7) % (text.size() + 1);
  JsonPrefix two(require_object, max_ws);
  const bool two_ok = two.feed(text.substr(0, split)) && two.feed(text.substr(split));
  if (two_ok != all_ok) std::abort();
  if (two_ok && !(two == whole)) std::abort();
  return 0;
}
