// bitnet::Error — the one exception type of the C++ API. Every failure carries a category (what kind
// of thing went wrong) and a message with context (file, offset, tensor, field).
#pragma once

#include <stdexcept>
#include <string>

namespace bitnet {

enum class ErrorCategory { model, tokenizer, config, io, memory, capacity, device, internal };

const char* to_string(ErrorCategory category) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCategory category, const std::string& message)
      : std::runtime_error(message), category_(category) {}
  ErrorCategory category() const noexcept { return category_; }

 private:
  ErrorCategory category_;
};

}  // namespace bitnet
