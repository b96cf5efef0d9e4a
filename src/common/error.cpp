#include "bitnet/error.hpp"

namespace bitnet {

const char* to_string(ErrorCategory category) noexcept {
  switch (category) {
    case ErrorCategory::model: return "model";
    case ErrorCategory::tokenizer: return "tokenizer";
    case ErrorCategory::config: return "config";
    case ErrorCategory::io: return "io";
    case ErrorCategory::memory: return "memory";
    case ErrorCategory::capacity: return "capacity";
    case ErrorCategory::device: return "device";
    case ErrorCategory::internal: return "internal";
  }
  return "unknown";
}

}  // namespace bitnet
