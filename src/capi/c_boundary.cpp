#include "capi/c_boundary.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace bitnet::capi {

int32_t resolve_gpu_layers(int32_t explicit_layers) noexcept {
  if (explicit_layers != 0) return explicit_layers;
  const char* env = std::getenv("BITNET_GPU_LAYERS");
  if (env == nullptr || *env == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(env, &end, 10);
  if (errno != 0 || end == env || *end != '\0' || value < -1 || value > INT32_MAX) {
    std::fprintf(
        stderr,
        "bitnet: warning: ignoring BITNET_GPU_LAYERS=\"%s\" (expected a whole number >= -1; "
        "-1 = all layers)\n",
        env);
    return 0;
  }
  return static_cast<int32_t>(value);
}

void note_cpu_fallback(int32_t n_gpu_layers) noexcept {
  if (n_gpu_layers == 0) return;
  std::fprintf(stderr, "bitnet: no GPU in this build: running on CPU (n_gpu_layers = %d ignored)\n",
               static_cast<int>(n_gpu_layers));
}

}  // namespace bitnet::capi
