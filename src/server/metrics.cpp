#include "server/metrics.hpp"

#include <cstdio>

namespace bitnet::server {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void metric(std::string& out, const char* type, const std::string& name, const std::string& help,
            const std::string& value) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
         value + "\n";
}

}  // namespace

void Histogram::observe(double seconds) {
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++buckets_[i];
  }
  ++count_;
  sum_ += seconds;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  for (size_t i = 0; i < kBounds.size(); ++i) {
    out +=
        name + "_bucket{le=\"" + number(kBounds[i]) + "\"} " + std::to_string(buckets_[i]) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + number(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::count_prompt(int64_t evaluated_tokens, int64_t cached_tokens, double seconds) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(evaluated_tokens);
  cached_tokens_ += static_cast<uint64_t>(cached_tokens);
  prompt_seconds_ += seconds;
}

void Metrics::count_generated(int64_t tokens) {
  std::lock_guard lock(mutex_);
  generated_tokens_ += static_cast<uint64_t>(tokens);
}

void Metrics::observe_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  first_token_.observe(seconds);
}

void Metrics::observe_inter_token(double seconds) {
  std::lock_guard lock(mutex_);
  inter_token_.observe(seconds);
}

void Metrics::count_step(int64_t tokens, double seconds) {
  std::lock_guard lock(mutex_);
  ++steps_;
  step_tokens_ += static_cast<uint64_t>(tokens);
  step_seconds_ += seconds;
}

void Metrics::count_rejected_queue_full() {
  std::lock_guard lock(mutex_);
  ++rejected_;
}

std::string Metrics::render(const SchedulerGauges& g) const {
  std::lock_guard lock(mutex_);
  std::string out;
  out +=
      "# HELP bitnet:requests_total Finished HTTP requests by endpoint and status.\n"
      "# TYPE bitnet:requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "bitnet:requests_total{endpoint=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  metric(out, "counter", "bitnet:prompt_tokens_total", "Prompt tokens evaluated.",
         std::to_string(prompt_tokens_));
  metric(out, "counter", "bitnet:prompt_seconds_total", "Time spent on prompt tokens.",
         number(prompt_seconds_));
  metric(out, "counter", "bitnet:prompt_cache_hit_tokens_total",
         "Prompt tokens reused from a slot's cached prefix instead of evaluated.",
         std::to_string(cached_tokens_));
  metric(out, "counter", "bitnet:tokens_predicted_total", "Tokens generated.",
         std::to_string(generated_tokens_));
  metric(out, "counter", "bitnet:decode_steps_total", "Forward passes of the scheduler.",
         std::to_string(steps_));
  metric(out, "counter", "bitnet:decode_step_tokens_total", "Tokens evaluated by those steps.",
         std::to_string(step_tokens_));
  metric(out, "counter", "bitnet:decode_step_seconds_total", "Time spent in those steps.",
         number(step_seconds_));
  metric(out, "counter", "bitnet:requests_rejected_total",
         "Requests answered 503 because the queue was full (--max-queue).",
         std::to_string(rejected_));
  metric(out, "gauge", "bitnet:requests_processing", "Requests holding a slot.",
         std::to_string(g.busy_slots));
  metric(out, "gauge", "bitnet:requests_deferred", "Requests waiting for a slot (the queue).",
         std::to_string(g.queued));
  metric(out, "gauge", "bitnet:slots_total", "Slots (--parallel).", std::to_string(g.n_slots));
  metric(out, "gauge", "bitnet:kv_cache_tokens", "KV cells holding a position.",
         std::to_string(g.kv_used));
  metric(out, "gauge", "bitnet:kv_cache_usage_ratio", "kv_cache_tokens / KV cells.",
         number(g.kv_total > 0 ? static_cast<double>(g.kv_used) / static_cast<double>(g.kv_total)
                               : 0.0));
  first_token_.render(out, "bitnet:time_to_first_token_seconds",
                      "From a request's arrival to its first generated token.");
  inter_token_.render(out, "bitnet:inter_token_latency_seconds",
                      "Between two consecutive tokens of one request.");
  return out;
}

}  // namespace bitnet::server
