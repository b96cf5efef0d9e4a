// The server's counters, gauges and latency histograms, rendered as Prometheus text for
// GET /metrics. Names follow llama-server's (llamacpp:prompt_tokens_total, ...) under our prefix
// bitnet:. Thread-safe: HTTP threads count requests, the scheduler counts tokens.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace bitnet::server {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10,    30,  60};
  void observe(double seconds);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<uint64_t, kBounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct SchedulerGauges {
  int busy_slots = 0;
  int queued = 0;
  int n_slots = 0;
  int64_t kv_used = 0;   // cells holding a position, over every slot
  int64_t kv_total = 0;  // cells of the whole cache
};

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void count_prompt(int64_t evaluated_tokens, int64_t cached_tokens, double seconds);
  void count_generated(int64_t tokens);
  void observe_first_token(double seconds);
  void observe_inter_token(double seconds);
  void count_step(int64_t tokens, double seconds);
  void count_rejected_queue_full();

  std::string render(const SchedulerGauges& gauges) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0;
  uint64_t cached_tokens_ = 0;
  double prompt_seconds_ = 0;
  uint64_t generated_tokens_ = 0;
  uint64_t steps_ = 0;
  uint64_t step_tokens_ = 0;
  double step_seconds_ = 0;
  uint64_t rejected_ = 0;
  Histogram first_token_;
  Histogram inter_token_;
};

}  // namespace bitnet::server
