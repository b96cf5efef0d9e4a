// What `bitnet serve` is configured with (tools/cmd_serve.cpp maps llama-server's flags onto it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bitnet::server {

struct ServerOptions {
  std::string model_path;
  std::string alias;  // the model id in /v1/models and responses; default: the file's stem
  std::string host = "127.0.0.1";
  int port = 8080;
  int n_parallel = 4;     // slots: sequences decoded together
  int32_t n_ctx = 0;      // total KV cells, split evenly over the slots; 0 = 4096 per slot
  int n_threads = 0;      // 0 = every hardware thread
  int32_t n_batch = 512;  // most tokens of one step (prefill chunks + one per generating slot)
  std::vector<std::string> api_keys;
  int timeout_s = 600;          // longest a request may run (and the HTTP read/write timeout)
  bool metrics = false;         // GET /metrics
  bool metrics_public = false;  // /metrics without an API key
  bool webui = true;            // GET /
  std::string chat_template = "auto";
  std::string head_type = "f16";
  std::string cache_type_k = "f16";  // -ctk / -ctv: f16 or q8_0
  std::string cache_type_v = "f16";
  std::optional<int> n_gpu_layers;  // -ngl; unset: BITNET_GPU_LAYERS, else 0
  bool reference_numerics = false;  // default: fast numerics, batch-invariant results
  bool use_mmap = true;
  int max_queue = 0;            // requests waiting for a slot; 0 = no limit
  int64_t max_body = 1 << 20;   // bytes of a request body
  int shutdown_timeout_s = 30;  // how long SIGTERM waits for running requests
  int http_threads = 0;         // 0 = enough for every slot, the queue and idle keep-alives
  bool verbose = false;
};

}  // namespace bitnet::server
