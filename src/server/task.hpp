// One request between its HTTP thread and the scheduler thread: the parsed request, the tokens'
// events the scheduler emits as it generates, and the final result. The HTTP thread only waits on
// it, streams what arrives and may cancel it (the client went away); the scheduler never blocks on
// it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "server/request.hpp"

namespace bitnet::server {

using Clock = std::chrono::steady_clock;

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
};

// One generated token: its text as it became safe to send (complete UTF-8, stop sequences held
// back: may be empty) and, when asked, its log-probability and the most likely alternatives.
struct TokenEvent {
  int32_t token = 0;
  std::string text;
  float logprob = 0;
  std::vector<TokenLogprob> top;
};

struct TaskResult {
  std::string finish_reason = "stop";  // "stop" | "length"
  std::string error;                   // set when the request failed (no slot, timeout, ...)
  int error_status = 0;                // the HTTP status of `error` when nothing was sent yet
  std::string text;                    // held-back text released at the end
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;  // prompt tokens reused from the slot's cache
  int32_t completion_tokens = 0;
  double prompt_ms = 0;
  double predicted_ms = 0;
};

class Task {
 public:
  Task(uint64_t id, CompletionRequest request)
      : id_(id), request_(std::move(request)), received_(Clock::now()) {}

  uint64_t id() const { return id_; }
  const CompletionRequest& request() const { return request_; }
  Clock::time_point received() const { return received_; }

  // Scheduler side.
  void emit(TokenEvent event);
  void finish(TaskResult result);

  // HTTP side: waits up to `wait` for news, moves the new events into `out` and returns true once
  // the task is finished and every event was taken (result() is then final).
  bool take(std::vector<TokenEvent>& out, std::chrono::milliseconds wait);
  const TaskResult& result() const { return result_; }

  // The client is gone: the scheduler frees the slot at its next step.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  const uint64_t id_;
  const CompletionRequest request_;
  const Clock::time_point received_;
  std::atomic<bool> cancelled_{false};

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TokenEvent> events_;
  bool finished_ = false;
  TaskResult result_;
};

}  // namespace bitnet::server
