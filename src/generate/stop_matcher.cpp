#include "generate/stop_matcher.hpp"

#include <algorithm>

namespace bitnet::generate {

std::string StopMatcher::push(std::string_view text) {
  if (matched_) return {};
  held_ += text;
  // The earliest occurrence wins; between sequences starting at the same byte the longest.
  size_t first = std::string::npos;
  for (const auto& stop : stops_) {
    const size_t at = held_.find(stop);
    if (at == std::string::npos) continue;
    if (at < first || (at == first && stop.size() > matched_sequence_.size())) {
      first = at;
      matched_sequence_ = stop;
    }
  }
  if (first != std::string::npos) {
    matched_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  const size_t keep = partial_match_length();
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

size_t StopMatcher::partial_match_length() const {
  size_t best = 0;
  for (const auto& stop : stops_) {
    const size_t longest = std::min(held_.size(), stop.size() - 1);
    for (size_t n = longest; n > best; --n) {
      if (std::string_view(held_).substr(held_.size() - n) == std::string_view(stop).substr(0, n)) {
        best = n;
        break;
      }
    }
  }
  return best;
}

}  // namespace bitnet::generate
