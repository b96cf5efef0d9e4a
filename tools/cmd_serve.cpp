// bitnet serve: the OpenAI-compatible HTTP server with continuous batching (src/server). Flags are
// llama-server's where it has one. Exit codes: 0 after a drained shutdown (SIGTERM/SIGINT),
// 1 when it cannot start (bad model, port in use), CLI11's codes for bad arguments.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "gpu_layers_option.hpp"
#include "head_type_option.hpp"
#include "server/server.hpp"

namespace bitnet::tools {
namespace {

std::vector<std::string> read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCategory::io, "--api-key-file " + path + ": cannot open");
  std::vector<std::string> keys;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') keys.push_back(line);
  }
  if (keys.empty()) throw Error(ErrorCategory::config, "--api-key-file " + path + ": no key in it");
  return keys;
}

}  // namespace

void register_serve(CLI::App& app) {
  auto opt = std::make_shared<server::ServerOptions>();
  auto key_file = std::make_shared<std::string>();
  auto fast = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "serve",
      "OpenAI-compatible HTTP server (chat, completions, streaming) with continuous batching");
  cmd->add_option("-m,--model", opt->model_path, "GGUF model")->required();
  cmd->add_option("--host", opt->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", opt->port, "port (0 = any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", opt->n_parallel, "-np: slots, requests decoded together")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("-c,--ctx-size", opt->n_ctx,
                  "total KV cells, split evenly over the slots (0 = 4096 per slot)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 26));
  cmd->add_option("-t,--threads", opt->n_threads, "threads (0 = all)")->check(CLI::Range(0, 1024));
  cmd->add_option("-b,--batch-size", opt->n_batch,
                  "most tokens per step; long prompts are prefilled in chunks")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--api-key", opt->api_keys, "API key clients must send (repeatable)");
  cmd->add_option("--api-key-file", *key_file, "file with one API key per line");
  cmd->add_option("--timeout", opt->timeout_s,
                  "seconds a request may take (also the HTTP read/write timeout)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_flag("--metrics", opt->metrics, "serve Prometheus metrics at /metrics");
  cmd->add_flag("--metrics-public", opt->metrics_public,
                "/metrics needs no API key (implies --metrics)");
  cmd->add_flag(
      "--no-webui", [opt](int64_t) { opt->webui = false; }, "no chat page at /");
  cmd->add_option("--chat-template", opt->chat_template,
                  "auto (the model's), llama3, bitnet, llama2 or raw")
      ->capture_default_str();
  cmd->add_option("-a,--alias", opt->alias, "model id in /v1/models (default: the file name)");
  add_head_type_option(*cmd, opt->head_type);
  cmd->add_option("--cache-type-k", opt->cache_type_k, "-ctk: KV cache type for K: f16 or q8_0")
      ->check(CLI::IsMember({"f16", "q8_0"}, CLI::ignore_case))
      ->capture_default_str();
  cmd->add_option("--cache-type-v", opt->cache_type_v, "-ctv: KV cache type for V: f16 or q8_0")
      ->check(CLI::IsMember({"f16", "q8_0"}, CLI::ignore_case))
      ->capture_default_str();
  add_gpu_layers_option(*cmd, opt->n_gpu_layers);
  cmd->add_flag("--reference-numerics", opt->reference_numerics,
                "the reference's roundings: results depend on what else is in the batch");
  cmd->add_flag("--fast-numerics", *fast, "batch-invariant fast numerics (the default)")
      ->excludes("--reference-numerics");
  cmd->add_flag(
      "--no-mmap", [opt](int64_t) { opt->use_mmap = false; }, "read the whole model at start-up");
  cmd->add_option("--max-queue", opt->max_queue,
                  "requests that may wait for a slot; past it 503 + Retry-After (0 = no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-body", opt->max_body, "largest request body in bytes (past it: 413)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--shutdown-timeout", opt->shutdown_timeout_s,
                  "seconds SIGTERM waits for running requests before ending them")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--http-threads", opt->http_threads,
                  "HTTP worker threads (0 = 4 per slot + 16, at least 32)")
      ->check(CLI::NonNegativeNumber);
  add_poll_option(*cmd);
  cmd->callback([opt, key_file] {
    if (!key_file->empty()) {
      for (auto& k : read_key_file(*key_file)) opt->api_keys.push_back(k);
    }
    if (opt->metrics_public) opt->metrics = true;
    const int code = server::run_server(*opt);
    if (code != 0) std::exit(code);
  });
}

}  // namespace bitnet::tools
