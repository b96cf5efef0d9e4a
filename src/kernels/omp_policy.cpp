#include "kernels/omp_policy.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bitnet::kernels {

long spin_count_for_poll(int level) {
  return static_cast<long>(level) * (kDefaultGompSpinCount / 50);
}

namespace {
std::optional<int> parse_level(std::string_view text) {
  int level = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), level);
  if (ec != std::errc() || end != text.data() + text.size() || level < 0 || level > 100) {
    return std::nullopt;
  }
  return level;
}
}  // namespace

std::optional<int> poll_level_in(char** argv) {
  for (int i = 1; argv[i] != nullptr; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--poll" && argv[i + 1] != nullptr) return parse_level(argv[i + 1]);
    if (arg.starts_with("--poll=")) return parse_level(arg.substr(7));
  }
  return std::nullopt;
}

void apply_omp_wait_defaults(char** argv) {
  const std::optional<int> poll = poll_level_in(argv);
  const char* already = std::getenv("BITNET_OMP_DEFAULTS");
  const bool opted_out = already && std::strcmp(already, "0") == 0;
  std::string spin;
  if (poll) {
    spin = std::to_string(spin_count_for_poll(*poll));
    const char* current = std::getenv("GOMP_SPINCOUNT");
    // Already re-executed with it (or the user set the same): nothing to do.
    if (current && spin == current && !std::getenv("OMP_WAIT_POLICY")) return;
    ::unsetenv("OMP_WAIT_POLICY");  // the explicit flag wins over the environment
  } else {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || opted_out) return;
    spin = std::to_string(kDefaultGompSpinCount);
  }
  // Set before exec so the new image's libgomp reads it; BITNET_OMP_DEFAULTS=0 also guards against
  // a loop should GOMP_SPINCOUNT not survive the exec.
  if (::setenv("GOMP_SPINCOUNT", spin.c_str(), 1) != 0) return;
  if (::setenv("BITNET_OMP_DEFAULTS", "0", 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // exec failed: run on with libgomp's defaults (the variables set here are harmless).
}

}  // namespace bitnet::kernels
