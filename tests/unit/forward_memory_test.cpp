// Resident size of a 2B-4T-shaped model at n_ctx 4096: within file size + KV cache + 64 MB.
// Opt-in (the model is 1.2 GB): set BITNET_2B4T_MODEL to such a file, e.g. from
// `bitnet synth --preset 2b4t`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/context.hpp"

namespace bitnet {
namespace {

double vm_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

TEST(ForwardMemory, ResidentSizeWithinBudget) {
  const char* path = std::getenv("BITNET_2B4T_MODEL");
  if (path == nullptr) GTEST_SKIP() << "set BITNET_2B4T_MODEL to a 2b4t-shaped GGUF to measure";
  ContextOptions o;
  o.n_ctx = 4096;
  o.n_threads = 2;
  Context ctx(Model::load(path), o);
  const std::vector<int32_t> prompt = {1, 2, 3, 4};
  ctx.eval(prompt, false);
  const int32_t next = 5;
  ctx.eval(std::span<const int32_t>(&next, 1), false);
  const auto& c = ctx.model().config();
  const double file_mb = static_cast<double>(std::filesystem::file_size(path)) / (1024.0 * 1024.0);
  const double kv_mb =
      2.0 * static_cast<double>(c.n_layer * o.n_ctx * c.n_embd_kv()) * 2 / (1024.0 * 1024.0);
  const double rss = vm_rss_mb();
  std::printf("  VmRSS %.1f MiB; file %.1f MiB + KV %.1f MiB + 64 MiB = budget %.1f MiB\n", rss,
              file_mb, kv_mb, file_mb + kv_mb + 64);
  EXPECT_LE(rss, file_mb + kv_mb + 64);
}

}  // namespace
}  // namespace bitnet
