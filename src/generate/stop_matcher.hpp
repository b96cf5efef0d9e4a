// Finds stop sequences in streamed text that arrives in arbitrary pieces (a stop sequence may be
// split across tokens). Text that could still be the start of a stop sequence is held back until
// it is known not to be; the stop sequence itself and anything after it are never released.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::generate {

class StopMatcher {
 public:
  explicit StopMatcher(std::span<const std::string> stops) : stops_(stops.begin(), stops.end()) {}

  // Adds text; returns the part that is safe to emit now. After a match it returns the text before
  // the stop sequence and matched() becomes true; later calls return nothing.
  std::string push(std::string_view text);
  // The held-back text (no stop sequence followed it); empties the buffer.
  std::string flush();
  bool matched() const { return matched_; }
  const std::string& matched_sequence() const { return matched_sequence_; }

 private:
  // Length of the longest suffix of held_ that is a proper prefix of some stop sequence.
  size_t partial_match_length() const;

  std::vector<std::string> stops_;
  std::string held_;
  bool matched_ = false;
  std::string matched_sequence_;
};

}  // namespace bitnet::generate
