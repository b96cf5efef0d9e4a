#include "kv_cache_option.hpp"

#include <CLI/CLI.hpp>

namespace bitnet::tools {

void add_kv_cache_options(CLI::App& cmd, KvCacheTypes& types) {
  cmd.add_option(
         "--cache-type-k", types.k,
         "-ctk: KV cache type for K: f16 (as the references) or q8_0 (half the bytes, slightly "
         "different logits)")
      ->check(CLI::IsMember({"f16", "q8_0"}, CLI::ignore_case))
      ->capture_default_str();
  cmd.add_option("--cache-type-v", types.v, "-ctv: KV cache type for V: f16 or q8_0")
      ->check(CLI::IsMember({"f16", "q8_0"}, CLI::ignore_case))
      ->capture_default_str();
}

}  // namespace bitnet::tools
