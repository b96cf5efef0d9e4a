// Helpers shared by the C entry points (crossval_session.cpp, bitnet_c.cpp): copying a message
// into a caller's buffer and parsing the environment, without ever letting an exception out.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace bitnet::capi {

// Writes msg into err as a NUL-terminated string truncated to err_len - 1 bytes; does nothing when
// err is null or err_len <= 0.
inline void write_message(char* err, int32_t err_len, std::string_view msg) noexcept {
  if (err == nullptr || err_len <= 0) return;
  const size_t n = std::min(msg.size(), static_cast<size_t>(err_len) - 1);
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

// The layer count to offload: `explicit_layers` unless it is 0, else BITNET_GPU_LAYERS by
// resolve_gpu_layers's rules (the C structs' 0 means "not set"). Never throws.
int32_t resolve_gpu_layers(int32_t explicit_layers) noexcept;

}  // namespace bitnet::capi
