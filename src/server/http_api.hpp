// The HTTP routes of `bitnet serve` over cpp-httplib: authentication, the OpenAI endpoints,
// llama-server's extras, errors in OpenAI's shape. Handlers only parse, queue and stream; the
// Scheduler's thread does all model work.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "api/api_impl.hpp"  // the model's internals (tokenizer, weights); defines no aliases
#include "server/metrics.hpp"
#include "server/scheduler.hpp"
#include "server/server_options.hpp"

namespace httplib {
class Server;
}

namespace bitnet::server {

enum class Phase { loading, ready, draining };

struct ServerState {
  ServerOptions options;
  Metrics metrics;
  std::atomic<Phase> phase{Phase::loading};
  std::string model_id;
  int64_t created = 0;  // when the model was loaded (Unix time), for /v1/models
  std::unique_ptr<api::Model> model;
  std::unique_ptr<Scheduler> scheduler;
  std::atomic<uint64_t> next_task_id{1};
  std::atomic<int> in_flight{0};  // completion requests not yet fully answered
};

void register_routes(httplib::Server& server, ServerState& state);

}  // namespace bitnet::server
