// Shared helpers for the unit tests: where the reference fixtures and the CLI are.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace bitnet::test {

// ../shared/fixtures by default; BITNET_FIXTURES overrides it.
inline std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("BITNET_FIXTURES")) return env;
  return BITNET_FIXTURES_DIR;
}

inline std::string fixture(const std::string& relative) {
  return (fixtures_dir() / relative).string();
}

inline std::string cli_path() {
  return BITNET_CLI_PATH;
}
// The shell words that run the CLI: its path (quoted), after the emulator in a cross build, where
// the shell the tests start is the host's and cannot run an aarch64 binary by itself.
inline std::string cli_command() {
  return std::string(BITNET_CLI_LAUNCHER) + "'" + cli_path() + "'";
}

// A scratch directory unique to the running test binary.
inline std::filesystem::path scratch_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("bitnet-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace bitnet::test
