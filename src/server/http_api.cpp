#include "server/http_api.hpp"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "bitnet/error.hpp"
#include "server/api_error.hpp"
#include "server/request.hpp"
#include "server/responses.hpp"
#include "server/webui.hpp"

namespace bitnet::server {
namespace {

using nlohmann::json;

const tokenizer::Tokenizer& tokenizer_of(const ServerState& state) {
  return state.model->internals().tokenizer;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.status == 503) res.set_header("Retry-After", "1");
  send_json(res, e.status, e.body());
}

// Runs a handler, turning every failure into an OpenAI-shaped error; bad input is never a 5xx.
template <typename Handler>
void guarded(ServerState& state, const char* endpoint, httplib::Response& res, Handler&& handler) {
  try {
    handler();
  } catch (const ApiError& e) {
    send_error(res, e);
  } catch (const json::exception& e) {
    send_error(res, ApiError(400, std::string("bad request: ") + e.what()));
  } catch (const Error& e) {
    const bool input = e.category() == ErrorCategory::config ||
                       e.category() == ErrorCategory::capacity ||
                       e.category() == ErrorCategory::tokenizer;
    send_error(res, ApiError(input ? 400 : 500, e.what()));
  } catch (const std::exception& e) {
    send_error(res, ApiError(500, std::string("internal error: ") + e.what()));
  }
  // A stream's status is counted when it ends (see the content provider's releaser).
  if (!res.is_chunked_content_provider_) state.metrics.count_request(endpoint, res.status);
}

void require_ready(const ServerState& state) {
  const Phase phase = state.phase.load();
  if (phase == Phase::loading) throw ApiError(503, "the model is loading", {}, "loading");
  if (phase == Phase::draining) throw ApiError(503, "the server is shutting down", {}, "draining");
}

std::string random_hex(int n) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::string s;
  for (int i = 0; i < n; ++i) s += "0123456789abcdef"[rng() & 15];
  return s;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Counts a completion request as in flight until it is fully answered (shutdown waits for it).
struct InFlight {
  explicit InFlight(std::atomic<int>& n) : n_(&n) { ++*n_; }
  ~InFlight() {
    if (n_) --*n_;
  }
  InFlight(InFlight&& o) noexcept : n_(o.n_) { o.n_ = nullptr; }
  InFlight(const InFlight&) = delete;
  std::atomic<int>* n_;
};

// What a streaming response keeps between calls of its content provider.
struct Stream {
  std::shared_ptr<Task> task;
  ResponseContext rc;
  ServerState* state;
  const char* endpoint;
  InFlight in_flight;
  bool sent_role = false;
  std::vector<TokenEvent> events;
};

bool write_event(httplib::DataSink& sink, const json& j) {
  const std::string line = "data: " + dump(j) + "\n\n";
  return sink.write(line.data(), line.size());
}

// Streams a task as server-sent events until it finishes or the client goes away.
bool stream_events(Stream& s, httplib::DataSink& sink) {
  const CompletionRequest& req = s.task->request();
  const bool chat = req.endpoint == Endpoint::chat;
  if (chat && !s.sent_role) {
    s.sent_role = true;
    if (!write_event(sink, chat_role_chunk(s.rc))) return false;
  }
  while (true) {
    if (!sink.is_writable()) {
      s.task->cancel();
      return false;
    }
    s.events.clear();
    const bool done = s.task->take(s.events, std::chrono::milliseconds(100));
    for (auto& e : s.events) {
      if (e.text.empty() && !req.logprobs) continue;
      const std::vector<TokenEvent> one = {e};
      const json chunk = chat ? chat_content_chunk(s.rc, req, e.text, one)
                              : completion_text_chunk(s.rc, req, e.text, one);
      if (!write_event(sink, chunk)) {
        s.task->cancel();
        return false;
      }
    }
    if (!done) continue;
    const TaskResult& r = s.task->result();
    if (!r.text.empty()) {
      const json chunk = chat ? chat_content_chunk(s.rc, req, r.text, {})
                              : completion_text_chunk(s.rc, req, r.text, {});
      if (!write_event(sink, chunk)) return false;
    }
    if (!r.error.empty()) {
      write_event(sink, ApiError(r.error_status ? r.error_status : 500, r.error).body());
    } else {
      if (!write_event(sink, final_chunk(s.rc, req, r))) return false;
      if (req.include_usage && !write_event(sink, usage_chunk(s.rc, req, r))) return false;
    }
    const std::string end = "data: [DONE]\n\n";
    sink.write(end.data(), end.size());
    sink.done();
    return true;
  }
}

void handle_completion(ServerState& state, const httplib::Request& http_req, httplib::Response& res,
                       Endpoint endpoint) {
  require_ready(state);
  const json body = parse_body(http_req.body);
  const PromptContext prompt{tokenizer_of(state), state.options.chat_template};
  CompletionRequest req = endpoint == Endpoint::chat ? parse_chat_request(body, prompt)
                                                     : parse_completion_request(body, prompt);
  if (!req.model.empty() && req.model != state.model_id) {
    throw ApiError(404,
                   "the model '" + req.model + "' does not exist (this server has '" +
                       state.model_id + "', see GET /v1/models)",
                   "model", "model_not_found");
  }
  const int32_t n_ctx = state.scheduler->n_ctx_slot();
  if (static_cast<int64_t>(req.prompt.size()) >= n_ctx) {
    throw ApiError(400,
                   "the prompt has " + std::to_string(req.prompt.size()) +
                       " tokens but a slot's context holds " + std::to_string(n_ctx) +
                       " (with room for at least one generated token): shorten it or start the "
                       "server with a larger -c / fewer -np",
                   endpoint == Endpoint::chat ? "messages" : "prompt", "context_length_exceeded");
  }
  try {
    req.sampling.validate();
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  const bool stream = req.stream;
  const uint64_t id = state.next_task_id++;
  auto task = std::make_shared<Task>(id, std::move(req));
  InFlight in_flight(state.in_flight);
  switch (state.scheduler->submit(task)) {
    case Scheduler::Admission::accepted:
      break;
    case Scheduler::Admission::queue_full:
      state.metrics.count_rejected_queue_full();
      throw ApiError(503,
                     "the server is busy: every slot is taken and --max-queue " +
                         std::to_string(state.options.max_queue) + " requests are waiting",
                     {}, "queue_full");
    case Scheduler::Admission::draining:
      throw ApiError(503, "the server is shutting down", {}, "draining");
  }
  ResponseContext rc{tokenizer_of(state),
                     (endpoint == Endpoint::chat ? "chatcmpl-" : "cmpl-") + random_hex(24),
                     state.model_id, unix_now()};

  if (stream) {
    auto s = std::make_shared<Stream>(Stream{task,
                                             rc,
                                             &state,
                                             endpoint == Endpoint::chat ? "chat" : "completions",
                                             std::move(in_flight),
                                             false,
                                             {}});
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");  // nginx: pass events through as they come
    res.set_chunked_content_provider(
        "text/event-stream",
        [s](size_t, httplib::DataSink& sink) { return stream_events(*s, sink); },
        [s](bool success) {
          if (!success) s->task->cancel();  // the client went away: free the slot
          s->state->metrics.count_request(s->endpoint, 200);
        });
    return;
  }
  std::vector<TokenEvent> events;
  while (!task->take(events, std::chrono::milliseconds(200))) {
  }
  const TaskResult& result = task->result();
  if (!result.error.empty() && result.completion_tokens == 0) {
    throw ApiError(result.error_status ? result.error_status : 500, result.error);
  }
  send_json(res, 200,
            endpoint == Endpoint::chat ? chat_response(rc, task->request(), events, result)
                                       : completion_response(rc, task->request(), events, result));
}

void handle_tokenize(ServerState& state, const httplib::Request& req, httplib::Response& res) {
  require_ready(state);
  const json body = parse_body(req.body);
  const auto it = body.find("content");
  if (it == body.end() || !it->is_string()) bad_field("content", "must be a string");
  bool add_special = false, with_pieces = false, parse_special = true;
  for (auto [name, out] :
       {std::pair{"add_special", &add_special}, std::pair{"with_pieces", &with_pieces},
        std::pair{"parse_special", &parse_special}}) {
    if (body.contains(name) && !body[name].is_null()) {
      if (!body[name].is_boolean()) bad_field(name, "must be a boolean");
      *out = body[name].get<bool>();
    }
  }
  const auto& tok = tokenizer_of(state);
  const auto ids = tok.encode(it->get<std::string>(), add_special, parse_special);
  json tokens = json::array();
  for (const int32_t id : ids) {
    if (with_pieces) {
      tokens.push_back({{"id", id}, {"piece", tok.token_to_piece(id)}});
    } else {
      tokens.push_back(id);
    }
  }
  send_json(res, 200, {{"tokens", tokens}});
}

void handle_detokenize(ServerState& state, const httplib::Request& req, httplib::Response& res) {
  require_ready(state);
  const json body = parse_body(req.body);
  const auto it = body.find("tokens");
  if (it == body.end() || !it->is_array()) bad_field("tokens", "must be an array of token ids");
  const auto& tok = tokenizer_of(state);
  std::vector<int32_t> ids;
  for (const auto& t : *it) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.n_vocab())
      bad_field("tokens", "must be integers in [0, " + std::to_string(tok.n_vocab()) + ")");
    ids.push_back(t.get<int32_t>());
  }
  send_json(res, 200, {{"content", tok.decode(ids)}});
}

bool authorized(const ServerState& state, const httplib::Request& req) {
  if (state.options.api_keys.empty()) return true;
  std::string key;
  const std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
  if (key.empty()) key = req.get_header_value("X-Api-Key");
  for (const auto& k : state.options.api_keys) {
    if (!key.empty() && key == k) return true;
  }
  return false;
}

bool is_public(const ServerState& state, const std::string& path) {
  return path == "/health" || path == "/" || (path == "/metrics" && state.options.metrics_public);
}

}  // namespace

void register_routes(httplib::Server& svr, ServerState& state) {
  svr.set_pre_routing_handler([&state](const httplib::Request& req, httplib::Response& res) {
    if (is_public(state, req.path) || authorized(state, req))
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, ApiError(401,
                             req.has_header("Authorization") || req.has_header("X-Api-Key")
                                 ? "invalid API key"
                                 : "missing API key: send 'Authorization: Bearer <key>'",
                             {}, "invalid_api_key"));
    state.metrics.count_request("auth", 401);
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404:
        send_error(
            res, ApiError(404, "unknown endpoint " + req.method + " " + req.path, {}, "not_found"));
        break;
      case 413:
        send_error(res, ApiError(413,
                                 "the request body is larger than the server accepts "
                                 "(--max-body)",
                                 {}, "body_too_large"));
        break;
      default:
        send_error(res,
                   ApiError(res.status, "bad request (HTTP " + std::to_string(res.status) + ")"));
    }
  });

  svr.Get("/health", [&state](const httplib::Request&, httplib::Response& res) {
    switch (state.phase.load()) {
      case Phase::loading:
        send_json(res, 503, {{"status", "loading"}});
        break;
      case Phase::draining:
        send_json(res, 503, {{"status", "draining"}});
        break;
      case Phase::ready:
        send_json(res, 200, {{"status", "ok"}});
        break;
    }
  });
  svr.Get("/", [&state](const httplib::Request& req, httplib::Response& res) {
    if (!state.options.webui) {
      send_error(res, ApiError(404, "the chat page is off (--no-webui)", {}, "not_found"));
      return;
    }
    (void)req;
    const auto page = webui_page();
    res.set_content(std::string(page), "text/html; charset=utf-8");
  });
  const auto models = [&state](const httplib::Request&, httplib::Response& res) {
    guarded(state, "models", res, [&] {
      require_ready(state);
      send_json(res, 200,
                {{"object", "list"},
                 {"data", json::array({{{"id", state.model_id},
                                        {"object", "model"},
                                        {"created", state.created},
                                        {"owned_by", "bitnet-cxx"}}})}});
    });
  };
  svr.Get("/v1/models", models);
  svr.Get("/models", models);
  for (const char* path : {"/v1/chat/completions", "/chat/completions"}) {
    svr.Post(path, [&state](const httplib::Request& req, httplib::Response& res) {
      guarded(state, "chat", res, [&] { handle_completion(state, req, res, Endpoint::chat); });
    });
  }
  for (const char* path : {"/v1/completions", "/completions"}) {
    svr.Post(path, [&state](const httplib::Request& req, httplib::Response& res) {
      guarded(state, "completions", res,
              [&] { handle_completion(state, req, res, Endpoint::completion); });
    });
  }
  svr.Post("/tokenize", [&state](const httplib::Request& req, httplib::Response& res) {
    guarded(state, "tokenize", res, [&] { handle_tokenize(state, req, res); });
  });
  svr.Post("/detokenize", [&state](const httplib::Request& req, httplib::Response& res) {
    guarded(state, "detokenize", res, [&] { handle_detokenize(state, req, res); });
  });
  svr.Get("/metrics", [&state](const httplib::Request&, httplib::Response& res) {
    guarded(state, "metrics", res, [&] {
      if (!state.options.metrics)
        throw ApiError(404, "metrics are off: start the server with --metrics", {}, "not_found");
      const SchedulerGauges g = state.scheduler ? state.scheduler->gauges() : SchedulerGauges{};
      res.set_content(state.metrics.render(g), "text/plain; version=0.0.4");
    });
  });
  svr.Get("/slots", [&state](const httplib::Request&, httplib::Response& res) {
    guarded(state, "slots", res, [&] {
      require_ready(state);
      send_json(res, 200, state.scheduler->slots_json());
    });
  });

  // A known path with another method: 405 naming the allowed one.
  const auto not_allowed = [](const char* allow) {
    return [allow](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allow);
      send_error(
          res, ApiError(405, req.method + " is not allowed on " + req.path + " (use " + allow + ")",
                        {}, "method_not_allowed"));
    };
  };
  for (const char* path : {"/v1/chat/completions", "/chat/completions", "/v1/completions",
                           "/completions", "/tokenize", "/detokenize"}) {
    svr.Get(path, not_allowed("POST"));
    svr.Put(path, not_allowed("POST"));
    svr.Delete(path, not_allowed("POST"));
    svr.Patch(path, not_allowed("POST"));
  }
  for (const char* path : {"/health", "/", "/v1/models", "/models", "/metrics", "/slots"}) {
    svr.Post(path, not_allowed("GET"));
    svr.Put(path, not_allowed("GET"));
    svr.Delete(path, not_allowed("GET"));
    svr.Patch(path, not_allowed("GET"));
  }
}

}  // namespace bitnet::server
