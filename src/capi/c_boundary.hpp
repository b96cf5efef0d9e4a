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

// The layer count to offload: `explicit_layers` unless it is 0, else BITNET_GPU_LAYERS when that is
// a whole number >= -1 (-1 = all). An invalid variable is ignored with a warning on stderr.
int32_t resolve_gpu_layers(int32_t explicit_layers) noexcept;

// This build has no GPU backend: says so on stderr when layers were requested (never fails).
void note_cpu_fallback(int32_t n_gpu_layers) noexcept;

}  // namespace bitnet::capi
