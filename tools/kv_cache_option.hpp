// --cache-type-k/-ctk and --cache-type-v/-ctv (llama.cpp's names) for `bitnet run`, `chat`,
// `bench`, `eval` and `serve`: the KV cache's element types, f16 (the references') or q8_0.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace bitnet::tools {

struct KvCacheTypes {
  std::string k = "f16";
  std::string v = "f16";
};

void add_kv_cache_options(CLI::App& cmd, KvCacheTypes& types);

}  // namespace bitnet::tools
