#include "common/debug_env.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace bitnet::debug_env {
namespace {

bool enabled(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' && std::string_view(value) != "0";
}

}  // namespace

bool deterministic() {
  return enabled("BITNET_DETERMINISTIC");
}

bool debug_logits() {
  return enabled("BITNET_DEBUG_LOGITS");
}

std::optional<uint32_t> seed() {
  const char* value = std::getenv("BITNET_SEED");
  if (value == nullptr || *value == '\0') return std::nullopt;
  const std::string_view text(value);
  uint32_t parsed = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  // 0xFFFFFFFF is the API's "random seed" marker, so it cannot be a fixed seed.
  if (ec != std::errc() || end != text.data() + text.size() || parsed == 0xFFFFFFFFu) {
    std::fprintf(stderr,
                 "bitnet: warning: BITNET_SEED='%s' is not a seed in 0..4294967294; ignored\n",
                 value);
    return std::nullopt;
  }
  return parsed;
}

}  // namespace bitnet::debug_env
