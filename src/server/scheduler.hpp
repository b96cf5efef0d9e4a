// Continuous batching: one thread owns the engine (a multi-sequence Context, one sequence per
// slot) and runs steps. Each step evaluates the next token of every generating slot plus chunks of
// the prompts being prefilled, in one forward pass, then samples each slot's next token and hands
// it to its Task. Requests wait in a FIFO queue until a slot is free; the free slot whose cached
// tokens share the longest prefix with the prompt takes it, and only the rest is prefilled.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "generate/sampler.hpp"
#include "generate/stop_matcher.hpp"
#include "model/context.hpp"
#include "server/json_constraint.hpp"
#include "server/metrics.hpp"
#include "server/server_options.hpp"
#include "server/task.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::server {

struct SchedulerConfig {
  int n_slots = 4;
  int32_t n_ctx_slot = 4096;  // positions each slot holds
  int n_threads = 1;
  int32_t n_batch = 512;  // most tokens per step
  Numerics numerics = Numerics::Fast;
  KvType type_k = KvType::F16;
  KvType type_v = KvType::F16;
  int max_queue = 0;  // 0 = no limit
  int timeout_s = 600;
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<const Model> model, const tokenizer::Tokenizer& tokenizer,
            const SchedulerConfig& config, Metrics& metrics);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  enum class Admission { accepted, queue_full, draining };
  Admission submit(std::shared_ptr<Task> task);

  void begin_drain();  // no new requests from now on
  bool idle() const;   // nothing queued or running
  void cancel_all();   // ends every queued and running request (shutdown timeout)
  void stop();         // ends the thread (after cancel_all)

  int32_t n_ctx_slot() const { return config_.n_ctx_slot; }
  nlohmann::json slots_json() const;
  SchedulerGauges gauges() const;

 private:
  struct Slot;
  void run();
  void admit_queued();
  // `common`: prompt tokens the slot's cache already holds (admit_queued measured it).
  void assign(Slot& slot, std::shared_ptr<Task> task, size_t common);
  void drop_finished_or_cancelled();
  bool step();
  void sample_and_emit(Slot& slot, std::span<const float> logits);
  void release(Slot& slot, TaskResult result);
  void publish_slots();
  const JsonLogitsMask& json_mask();
  int32_t byte_token(unsigned char byte);  // a token that is exactly this byte (-1: none)

  std::shared_ptr<const Model> model_;
  const tokenizer::Tokenizer& tokenizer_;
  SchedulerConfig config_;
  Metrics& metrics_;
  Context ctx_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unique_ptr<JsonLogitsMask> json_mask_;  // built on the first json_object request
  std::vector<int32_t> byte_tokens_;           // byte_token()'s table, built with it

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Task>> queue_;
  bool draining_ = false;
  bool stopping_ = false;
  bool cancel_all_ = false;
  int busy_ = 0;
  nlohmann::json slots_snapshot_ = nlohmann::json::array();

  // Scheduler-thread scratch, reused every step.
  std::vector<BatchToken> batch_;
  std::vector<std::pair<Slot*, bool>> rows_;  // the slot of each logits row; true: last prompt row
  std::vector<float> masked_;
  std::vector<Slot*> prefilling_;                 // slots reading their prompt, oldest first
  std::vector<std::pair<Slot*, size_t>> chunks_;  // prompt tokens each takes this step
  std::vector<int32_t> top_ids_;                  // top_logprobs' selection
  uint64_t use_counter_ = 0;                      // orders the slots by last use
  double decode_step_ms_ = 0;                     // running mean of a step without prefill
  double prefill_token_ms_ = 0;                   // running mean per token of a prefill-heavy step
  std::thread thread_;
};

}  // namespace bitnet::server
