// Helpers for the trace and BLAKE3 tests: running external programs (b3sum, the CLI) and reading
// their output.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace bitnet::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs a shell command line with stdout and stderr captured into files under `scratch`.
inline CommandResult run_command(const std::string& command_line,
                                 const std::filesystem::path& scratch) {
  const auto out = scratch / "cmd.out", err = scratch / "cmd.err";
  const std::string full =
      command_line + " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
  const int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

inline bool b3sum_available() {
  return std::system("command -v b3sum >/dev/null 2>&1") == 0;
}

// b3sum's hex digest of each file, in order; nullopt when b3sum cannot run.
inline std::optional<std::vector<std::string>> b3sum_files(
    const std::vector<std::filesystem::path>& files, const std::filesystem::path& scratch) {
  std::string cmd = "b3sum --no-names";
  for (const auto& f : files) cmd += " " + shell_quote(f.string());
  const CommandResult r = run_command(cmd, scratch);
  if (r.exit_code != 0) return std::nullopt;
  std::vector<std::string> hashes;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) hashes.push_back(line);
  return hashes;
}

}  // namespace bitnet::test
