#include "server/server.hpp"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "bitnet/error.hpp"
#include "server/http_api.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::server {
namespace {

using namespace std::chrono_literals;

int default_threads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

SchedulerConfig scheduler_config(const ServerOptions& o) {
  SchedulerConfig c;
  c.n_slots = o.n_parallel;
  c.n_ctx_slot = o.n_ctx > 0 ? o.n_ctx / o.n_parallel : 4096;
  c.n_threads = o.n_threads > 0 ? o.n_threads : default_threads();
  c.n_batch = o.n_batch;
  c.numerics = o.reference_numerics ? Numerics::Reference : Numerics::Fast;
  c.type_k = parse_kv_type(o.cache_type_k);
  c.type_v = parse_kv_type(o.cache_type_v);
  c.max_queue = o.max_queue;
  c.timeout_s = o.timeout_s;
  return c;
}

void check_options(const ServerOptions& o) {
  const auto bad = [](const std::string& what) { throw Error(ErrorCategory::config, what); };
  if (o.n_parallel < 1) bad("--parallel must be >= 1, got " + std::to_string(o.n_parallel));
  if (o.n_ctx < 0) bad("--ctx-size must be >= 0, got " + std::to_string(o.n_ctx));
  if (o.n_ctx > 0 && o.n_ctx / o.n_parallel < 8)
    bad("--ctx-size " + std::to_string(o.n_ctx) + " split over " + std::to_string(o.n_parallel) +
        " slots leaves fewer than 8 positions per slot");
  if (o.n_batch < 1) bad("--batch-size must be >= 1, got " + std::to_string(o.n_batch));
  if (o.port < 0 || o.port > 65535) bad("--port must be in [0, 65535]");
  if (o.max_queue < 0) bad("--max-queue must be >= 0 (0 = no limit)");
  if (o.max_body < 1) bad("--max-body must be >= 1 byte");
  if (o.timeout_s < 1) bad("--timeout must be >= 1 second");
  if (o.shutdown_timeout_s < 0) bad("--shutdown-timeout must be >= 0");
}

// Waits until nothing runs any more or `deadline`; a second signal cuts the wait short.
bool wait_drained(ServerState& state, Clock::time_point deadline, const sigset_t& signals) {
  while (Clock::now() < deadline) {
    if (state.scheduler->idle() && state.in_flight.load() == 0) return true;
    timespec poll{0, 50'000'000};
    if (sigtimedwait(&signals, nullptr, &poll) > 0) {
      std::fprintf(stderr, "bitnet serve: second signal, stopping now\n");
      return false;
    }
  }
  return state.scheduler->idle() && state.in_flight.load() == 0;
}

// "auto" with a model whose tokenizer.chat_template is missing or unknown falls back (like
// llama-server's chatml fallback) to the template its vocabulary implies; a named template must
// exist. Fails at start-up, not at the first request.
std::string resolve_chat_template(const tokenizer::Tokenizer& tok, const std::string& name) {
  const std::vector<tokenizer::ChatMessage> probe = {{"user", "hi"}};
  if (name != "auto" && !name.empty()) {
    tokenizer::apply_chat_template(tok, name, probe, true);
    return name;
  }
  try {
    tokenizer::apply_chat_template(tok, "auto", probe, true);
    return "auto";
  } catch (const Error& e) {
    const bool llama3 = tok.find_token("<|start_header_id|>") != tokenizer::kNoToken;
    const char* fallback = llama3 ? "llama3" : "llama2";
    std::fprintf(stderr, "bitnet serve: %s; using the '%s' template (--chat-template to choose)\n",
                 e.what(), fallback);
    return fallback;
  }
}

}  // namespace

int run_server(const ServerOptions& options) {
  check_options(options);
  // Signals are taken by sigwait below; every thread started from here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that went away is noticed by the write, not a signal

  ServerState state;
  state.options = options;
  state.model_id = options.alias.empty()
                       ? std::filesystem::path(options.model_path).filename().string()
                       : options.alias;

  httplib::Server svr;
  const SchedulerConfig sc = scheduler_config(options);
  const int threads =
      options.http_threads > 0 ? options.http_threads : std::max(32, 4 * options.n_parallel + 16);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_payload_max_length(static_cast<size_t>(options.max_body));
  svr.set_read_timeout(options.timeout_s, 0);
  svr.set_write_timeout(options.timeout_s, 0);
  svr.set_tcp_nodelay(true);  // SSE events are small writes: no Nagle delay between tokens
  svr.set_keep_alive_max_count(1000);
  // Short: an idle keep-alive connection holds a worker, and holds the exit after a drain that
  // long.
  svr.set_keep_alive_timeout(1);
  register_routes(svr, state);

  const int port = options.port == 0
                       ? svr.bind_to_any_port(options.host)
                       : (svr.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port < 0) {
    throw Error(ErrorCategory::io, "cannot listen on " + options.host + ":" +
                                       std::to_string(options.port) +
                                       " (in use, or not an address of this machine)");
  }
  std::thread listener([&svr] { svr.listen_after_bind(); });
  std::fprintf(stderr, "bitnet serve: listening on http://%s:%d (loading %s)\n",
               options.host.c_str(), port, options.model_path.c_str());

  int exit_code = 0;
  try {
    api::LoadConfig load;
    load.use_mmap = options.use_mmap;
    load.head_type = api::parse_head_type(options.head_type);
    load.n_gpu_layers = options.n_gpu_layers;
    state.model = std::make_unique<api::Model>(api::Model::load(options.model_path, load));
    const auto& impl = state.model->internals();
    state.options.chat_template = resolve_chat_template(impl.tokenizer, options.chat_template);
    state.scheduler = std::make_unique<Scheduler>(impl.model, impl.tokenizer, sc, state.metrics);
    state.created = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    state.phase = Phase::ready;
    std::fprintf(
        stderr,
        "bitnet serve: ready: model '%s', %d slots x %d positions, %d threads, batch %d, "
        "%s numerics\n",
        state.model_id.c_str(), sc.n_slots, sc.n_ctx_slot, sc.n_threads, sc.n_batch,
        options.reference_numerics ? "reference (batch-dependent)" : "fast (batch-invariant)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bitnet serve: error: %s\n", e.what());
    svr.stop();
    listener.join();
    return 1;
  }

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "bitnet serve: %s: draining (up to %d s for running requests)\n",
               sig == SIGTERM ? "SIGTERM" : "SIGINT", options.shutdown_timeout_s);
  state.phase = Phase::draining;
  state.scheduler->begin_drain();
  if (!wait_drained(state, Clock::now() + std::chrono::seconds(options.shutdown_timeout_s),
                    signals)) {
    state.scheduler->cancel_all();
    wait_drained(state, Clock::now() + 2s, signals);
  }
  svr.stop();
  listener.join();
  state.scheduler.reset();
  std::fprintf(stderr, "bitnet serve: stopped\n");
  return exit_code;
}

}  // namespace bitnet::server
