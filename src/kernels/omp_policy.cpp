#include "kernels/omp_policy.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace bitnet::kernels {

void apply_omp_wait_defaults(char** argv) {
  const char* opt_out = std::getenv("BITNET_OMP_DEFAULTS");
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") ||
      (opt_out && std::strcmp(opt_out, "0") == 0)) {
    return;
  }
  // Set before exec so the new image's libgomp reads it; BITNET_OMP_DEFAULTS=0 also guards against
  // a loop should GOMP_SPINCOUNT not survive the exec.
  if (::setenv("GOMP_SPINCOUNT", kDefaultGompSpinCount, 1) != 0) return;
  if (::setenv("BITNET_OMP_DEFAULTS", "0", 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // exec failed: run on with libgomp's defaults (the variables set here are harmless).
}

}  // namespace bitnet::kernels
