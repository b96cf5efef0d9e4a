#include "server/scheduler.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>

#include "bitnet/error.hpp"

namespace bitnet::server {
namespace {

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return static_cast<size_t>(
      std::mismatch(a.begin(),
                    a.begin() + static_cast<std::ptrdiff_t>(std::min(a.size(), b.size())),
                    b.begin())
          .first -
      a.begin());
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

struct Scheduler::Slot {
  enum class State { idle, prefill, generate };
  int id = 0;
  State state = State::idle;
  std::shared_ptr<Task> task;
  std::vector<int32_t> cached;   // the tokens of the slot's KV sequence (n_past == size)
  std::vector<int32_t> history;  // prompt + generated: the penalties' window
  size_t prompt_done = 0;        // prompt tokens in the KV sequence
  int32_t pending = -1;          // sampled, evaluated by the next step
  int32_t n_generated = 0;
  int32_t n_cached = 0;  // prompt tokens reused from the previous request
  uint64_t last_used = 0;
  std::optional<generate::Sampler> sampler;
  std::optional<tokenizer::StreamDecoder> decoder;
  std::optional<generate::StopMatcher> stop;
  std::optional<JsonPrefix> json;
  std::string closing;  // json_object: bytes being forced so that the reply ends as valid JSON
  size_t closing_next = 0;
  Clock::time_point deadline, prefill_started, generation_started, last_token;
  double prompt_ms = 0;
};

Scheduler::Scheduler(std::shared_ptr<const Model> model, const tokenizer::Tokenizer& tokenizer,
                     const SchedulerConfig& config, Metrics& metrics)
    : model_(std::move(model)),
      tokenizer_(tokenizer),
      config_(config),
      metrics_(metrics),
      ctx_(model_, [&] {
        ContextOptions o;
        o.n_ctx = config.n_ctx_slot;
        o.n_seq = config.n_slots;
        o.n_threads = config.n_threads;
        o.numerics = config.numerics;
        o.type_k = config.type_k;
        o.type_v = config.type_v;
        return o;
      }()) {
  for (int i = 0; i < config_.n_slots; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->id = i;
  }
  publish_slots();
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  cancel_all();
  stop();
}

Scheduler::Admission Scheduler::submit(std::shared_ptr<Task> task) {
  {
    std::lock_guard lock(mutex_);
    if (draining_ || stopping_) return Admission::draining;
    const auto waiting = static_cast<int>(queue_.size()) + busy_ - config_.n_slots;
    if (config_.max_queue > 0 && waiting >= config_.max_queue) return Admission::queue_full;
    queue_.push_back(std::move(task));
  }
  wake_.notify_all();
  return Admission::accepted;
}

void Scheduler::begin_drain() {
  std::lock_guard lock(mutex_);
  draining_ = true;
}

bool Scheduler::idle() const {
  std::lock_guard lock(mutex_);
  return queue_.empty() && busy_ == 0;
}

void Scheduler::cancel_all() {
  {
    std::lock_guard lock(mutex_);
    cancel_all_ = true;
  }
  wake_.notify_all();
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

nlohmann::json Scheduler::slots_json() const {
  std::lock_guard lock(mutex_);
  return slots_snapshot_;
}

SchedulerGauges Scheduler::gauges() const {
  std::lock_guard lock(mutex_);
  SchedulerGauges g;
  g.busy_slots = busy_;
  g.queued = static_cast<int>(queue_.size());
  g.n_slots = config_.n_slots;
  g.kv_total = static_cast<int64_t>(config_.n_slots) * config_.n_ctx_slot;
  for (const auto& s : slots_snapshot_) g.kv_used += s["n_past"].get<int64_t>();
  return g;
}

void Scheduler::run() {
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    admit_queued();
    drop_finished_or_cancelled();
    const bool worked = step();
    publish_slots();
    if (!worked) {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(100),
                     [&] { return stopping_ || cancel_all_ || !queue_.empty(); });
    }
  }
  // Whatever is left is answered, so that no HTTP thread waits forever.
  TaskResult gone;
  gone.finish_reason = "length";
  gone.error = "the server is shutting down";
  gone.error_status = 503;
  for (auto& slot : slots_) {
    if (slot->task) release(*slot, gone);
  }
  std::lock_guard lock(mutex_);
  for (auto& task : queue_) task->finish(gone);
  queue_.clear();
}

void Scheduler::admit_queued() {
  while (true) {
    std::shared_ptr<Task> task;
    Slot* best = nullptr;
    size_t best_common = 0;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return;
      task = queue_.front();
      if (cancel_all_ || task->cancelled() ||
          Clock::now() > task->received() + std::chrono::seconds(config_.timeout_s)) {
        queue_.pop_front();
        TaskResult r;
        r.finish_reason = "length";
        r.error = cancel_all_ ? "the server is shutting down"
                              : "no slot became free within --timeout " +
                                    std::to_string(config_.timeout_s) + " s";
        r.error_status = 503;
        task->finish(r);
        continue;
      }
      // The idle slot whose cache shares the longest prefix with the prompt; the least recently
      // used one among equals.
      const auto& prompt = task->request().prompt;
      for (auto& slot : slots_) {
        if (slot->state != Slot::State::idle) continue;
        const size_t common =
            task->request().cache_prompt ? common_prefix(slot->cached, prompt) : 0;
        if (best == nullptr || common > best_common ||
            (common == best_common && slot->last_used < best->last_used)) {
          best = slot.get();
          best_common = common;
        }
      }
      if (best == nullptr) return;  // every slot is busy: the task waits
      queue_.pop_front();
      ++busy_;
    }
    assign(*best, std::move(task), best_common);
  }
}

void Scheduler::assign(Slot& slot, std::shared_ptr<Task> task, size_t common) {
  const CompletionRequest& req = task->request();
  const auto& prompt = req.prompt;
  // At least the last prompt token is evaluated: its logits give the first generated token.
  common = std::min(common, prompt.size() - 1);
  ctx_.truncate(static_cast<int32_t>(common), slot.id);
  slot.cached.resize(common);
  slot.prompt_done = common;
  slot.n_cached = static_cast<int32_t>(common);
  slot.history = prompt;
  slot.pending = -1;
  slot.n_generated = 0;
  slot.prompt_ms = 0;
  slot.sampler.emplace(req.sampling);
  slot.decoder.emplace(tokenizer_, /*skip_special=*/true);
  slot.stop.emplace(req.sampling.stop);
  slot.json.reset();
  slot.closing.clear();
  slot.closing_next = 0;
  if (req.json_object) slot.json.emplace(/*require_object=*/true, /*max_whitespace_run=*/20);
  slot.deadline = task->received() + std::chrono::seconds(config_.timeout_s);
  slot.prefill_started = Clock::now();
  slot.task = std::move(task);
  slot.state = Slot::State::prefill;
}

void Scheduler::drop_finished_or_cancelled() {
  bool cancel_everything = false;
  {
    std::lock_guard lock(mutex_);
    cancel_everything = cancel_all_;
  }
  const auto now = Clock::now();
  for (auto& slot : slots_) {
    if (!slot->task) continue;
    TaskResult r;
    r.finish_reason = "length";
    if (cancel_everything) {
      r.error = "the server is shutting down";
      r.error_status = 503;
    } else if (slot->task->cancelled()) {
      r.finish_reason = "cancelled";  // nobody is listening any more
    } else if (now > slot->deadline) {
      r.error = "the request ran longer than --timeout " + std::to_string(config_.timeout_s) + " s";
      r.error_status = 503;
    } else {
      continue;
    }
    release(*slot, r);
  }
}

bool Scheduler::step() {
  batch_.clear();
  rows_.clear();
  int n_generating = 0;
  for (auto& slot : slots_) {
    if (slot->state != Slot::State::generate || slot->pending < 0) continue;
    batch_.push_back({slot->pending, slot->id, ctx_.n_past(slot->id), true});
    rows_.emplace_back(slot.get(), false);
    ++n_generating;
  }
  // Prefill chunks fill the rest of the step. While others are generating, a chunk is kept to
  // about one decode step's worth of work, so that their tokens keep coming (chunked prefill).
  int64_t budget = config_.n_batch - n_generating;
  if (n_generating > 0) {
    const int64_t chunk = decode_step_ms_ > 0 && prefill_token_ms_ > 0
                              ? static_cast<int64_t>(decode_step_ms_ / prefill_token_ms_)
                              : 32;
    budget = std::min(budget, std::max<int64_t>(8, chunk));
  }
  std::vector<Slot*>& prefilling = prefilling_;
  prefilling.clear();
  for (auto& slot : slots_) {
    if (slot->state == Slot::State::prefill) prefilling.push_back(slot.get());
  }
  std::sort(prefilling.begin(), prefilling.end(), [](const Slot* a, const Slot* b) {
    return a->task->received() < b->task->received();  // first come, first served
  });
  std::vector<std::pair<Slot*, size_t>>& chunks = chunks_;
  chunks.clear();
  int64_t n_prefill = 0;
  for (Slot* slot : prefilling) {
    if (budget <= 0) break;
    const auto& prompt = slot->task->request().prompt;
    const size_t take =
        std::min<size_t>(prompt.size() - slot->prompt_done, static_cast<size_t>(budget));
    const int32_t first = ctx_.n_past(slot->id);
    for (size_t i = 0; i < take; ++i) {
      const bool last = slot->prompt_done + i + 1 == prompt.size();
      batch_.push_back(
          {prompt[slot->prompt_done + i], slot->id, first + static_cast<int32_t>(i), last});
      if (last) rows_.emplace_back(slot, true);
    }
    chunks.emplace_back(slot, take);
    budget -= static_cast<int64_t>(take);
    n_prefill += static_cast<int64_t>(take);
  }
  if (batch_.empty()) return false;

  const auto t0 = Clock::now();
  try {
    ctx_.decode(batch_);
  } catch (const std::exception& e) {
    // Nothing in a request can cause this (requests are checked before they are queued); fail
    // the requests of this step and start their slots afresh.
    TaskResult r;
    r.finish_reason = "length";
    r.error = std::string("evaluation failed: ") + e.what();
    r.error_status = 500;
    for (auto& slot : slots_) {
      if (!slot->task) continue;
      ctx_.truncate(0, slot->id);
      slot->cached.clear();
      release(*slot, r);
    }
    return true;
  }
  const auto t1 = Clock::now();
  const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  metrics_.count_step(static_cast<int64_t>(batch_.size()), ms / 1000.0);
  const auto mean = [](double& avg, double x) { avg = avg == 0 ? x : 0.8 * avg + 0.2 * x; };
  if (n_prefill == 0) mean(decode_step_ms_, ms);
  if (n_prefill >= 16) mean(prefill_token_ms_, ms / static_cast<double>(batch_.size()));

  for (auto& [slot, take] : chunks) {
    const auto& prompt = slot->task->request().prompt;
    slot->cached.insert(slot->cached.end(),
                        prompt.begin() + static_cast<std::ptrdiff_t>(slot->prompt_done),
                        prompt.begin() + static_cast<std::ptrdiff_t>(slot->prompt_done + take));
    slot->prompt_done += take;
  }
  for (auto& slot : slots_) {
    if (slot->state == Slot::State::generate && slot->pending >= 0) {
      slot->cached.push_back(slot->pending);
      slot->pending = -1;
    }
  }
  for (size_t r = 0; r < rows_.size(); ++r) {
    Slot& slot = *rows_[r].first;
    if (rows_[r].second) {  // the prompt is in: the first token comes from its last row
      slot.prompt_ms = std::chrono::duration<double, std::milli>(t1 - slot.prefill_started).count();
      metrics_.count_prompt(
          static_cast<int64_t>(slot.task->request().prompt.size()) - slot.n_cached, slot.n_cached,
          slot.prompt_ms / 1000.0);
      slot.state = Slot::State::generate;
      slot.generation_started = t1;
    }
    sample_and_emit(slot, ctx_.logits_row(static_cast<int64_t>(r)));
  }
  return true;
}

const JsonLogitsMask& Scheduler::json_mask() {
  if (!json_mask_) {
    std::vector<std::string> bytes(static_cast<size_t>(tokenizer_.n_vocab()));
    for (int32_t id = 0; id < tokenizer_.n_vocab(); ++id) {
      if (!tokenizer_.is_special(id))
        bytes[static_cast<size_t>(id)] = tokenizer_.token_to_piece(id);
    }
    std::vector<int32_t> ends;
    const auto& sp = tokenizer_.special_ids();
    for (const auto id : {sp.eos, sp.eot, sp.eom}) {
      if (id != tokenizer::kNoToken) ends.push_back(id);
    }
    json_mask_ = std::make_unique<JsonLogitsMask>(std::move(bytes), std::move(ends));
  }
  return *json_mask_;
}

int32_t Scheduler::byte_token(unsigned char byte) {
  if (byte_tokens_.empty()) {
    byte_tokens_.assign(256, -1);
    for (int32_t id = 0; id < tokenizer_.n_vocab(); ++id) {
      if (tokenizer_.is_special(id)) continue;
      const std::string& piece = tokenizer_.token_to_piece(id);
      if (piece.size() == 1 && byte_tokens_[static_cast<unsigned char>(piece[0])] < 0)
        byte_tokens_[static_cast<unsigned char>(piece[0])] = id;
    }
  }
  return byte_tokens_[byte];
}

void Scheduler::sample_and_emit(Slot& slot, std::span<const float> logits) {
  const CompletionRequest& req = slot.task->request();
  const GenerationConfig& g = req.sampling;
  if (g.max_new_tokens >= 0 && slot.n_generated >= g.max_new_tokens) {
    TaskResult r;
    r.finish_reason = "length";
    release(slot, r);
    return;
  }
  int32_t token = -1;
  if (slot.json) {
    // A json_object reply about to run out of tokens (max_tokens or the slot's context) is closed
    // byte by byte with the shortest valid ending instead of being cut mid-value.
    const int64_t by_limit =
        g.max_new_tokens >= 0 ? g.max_new_tokens - slot.n_generated : INT64_MAX;
    const int64_t budget = std::min<int64_t>(by_limit, config_.n_ctx_slot - ctx_.n_past(slot.id));
    if (slot.closing.empty() && budget <= slot.json->depth() + 10) {
      const std::string suffix = slot.json->closing_suffix();
      if (budget <= static_cast<int64_t>(suffix.size()) + 1) slot.closing = suffix;
    }
    if (slot.closing_next < slot.closing.size()) {
      token = byte_token(static_cast<unsigned char>(slot.closing[slot.closing_next++]));
    }
  }
  if (token < 0) {
    std::span<const float> row = logits;
    if (slot.json) {
      masked_.assign(logits.begin(), logits.end());
      json_mask().apply(*slot.json, masked_);
      row = masked_;
    }
    token = slot.sampler->sample(row, slot.history);
  }
  const auto now = Clock::now();
  if (slot.n_generated == 0) {
    metrics_.observe_first_token(seconds_between(slot.task->received(), now));
  } else {
    metrics_.observe_inter_token(seconds_between(slot.last_token, now));
  }
  slot.last_token = now;

  TaskResult done;
  if (!g.ignore_eos && tokenizer_.is_eog(token)) {
    done.finish_reason = "stop";
    release(slot, done);
    return;
  }
  TokenEvent event;
  event.token = token;
  if (req.logprobs) {
    // Log-probabilities of the model's distribution (before sampling settings), as OpenAI's.
    float max_logit = -INFINITY;
    for (const float l : logits) max_logit = std::max(max_logit, l);
    double sum = 0;
    for (const float l : logits) sum += std::exp(static_cast<double>(l - max_logit));
    const double lse = static_cast<double>(max_logit) + std::log(sum);
    event.logprob =
        static_cast<float>(static_cast<double>(logits[static_cast<size_t>(token)]) - lse);
    if (req.top_logprobs > 0) {
      std::vector<int32_t>& ids = top_ids_;
      ids.resize(logits.size());
      std::iota(ids.begin(), ids.end(), 0);
      const auto k = std::min(ids.size(), static_cast<size_t>(req.top_logprobs));
      std::partial_sort(
          ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
          [&](int32_t a, int32_t b) {
            return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
                   (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
          });
      for (size_t i = 0; i < k; ++i) {
        event.top.push_back(
            {ids[i],
             static_cast<float>(static_cast<double>(logits[static_cast<size_t>(ids[i])]) - lse)});
      }
    }
  }
  slot.history.push_back(token);
  ++slot.n_generated;
  metrics_.count_generated(1);
  event.text = slot.stop->push(slot.decoder->push(token));
  if (slot.json) slot.json->feed(tokenizer_.token_to_piece(token));
  slot.task->emit(std::move(event));

  if (slot.stop->matched() || (slot.json && slot.json->complete())) {
    done.finish_reason = "stop";
  } else if ((g.max_new_tokens >= 0 && slot.n_generated >= g.max_new_tokens) ||
             ctx_.n_past(slot.id) >= config_.n_ctx_slot) {
    done.finish_reason = "length";  // the token limit, or no room to evaluate the token
  } else {
    slot.pending = token;
    return;
  }
  release(slot, done);
}

void Scheduler::release(Slot& slot, TaskResult result) {
  if (slot.stop && !slot.stop->matched() && slot.decoder) {
    result.text = slot.stop->push(slot.decoder->flush());
    if (!slot.stop->matched()) result.text += slot.stop->flush();
  }
  const auto now = Clock::now();
  result.prompt_tokens = static_cast<int32_t>(slot.task->request().prompt.size());
  result.cached_tokens = slot.n_cached;
  result.completion_tokens = slot.n_generated;
  result.prompt_ms = slot.prompt_ms;
  result.predicted_ms =
      slot.state == Slot::State::generate
          ? std::chrono::duration<double, std::milli>(now - slot.generation_started).count()
          : 0;
  slot.task->finish(std::move(result));
  slot.task.reset();
  slot.sampler.reset();
  slot.decoder.reset();
  slot.stop.reset();
  slot.json.reset();
  slot.pending = -1;  // a sampled token not evaluated is not part of the cache
  slot.state = Slot::State::idle;
  slot.last_used = ++use_counter_;
  std::lock_guard lock(mutex_);
  --busy_;
}

void Scheduler::publish_slots() {
  nlohmann::json slots = nlohmann::json::array();
  for (const auto& slot : slots_) {
    const char* state = slot->state == Slot::State::idle      ? "idle"
                        : slot->state == Slot::State::prefill ? "prefill"
                                                              : "generating";
    slots.push_back({{"id", slot->id},
                     {"id_task", slot->task ? static_cast<int64_t>(slot->task->id()) : -1},
                     {"n_ctx", config_.n_ctx_slot},
                     {"is_processing", slot->state != Slot::State::idle},
                     {"state", state},
                     {"n_past", static_cast<int64_t>(slot->cached.size())},
                     {"n_prompt_tokens", slot->task ? slot->task->request().prompt.size() : 0},
                     {"n_prompt_tokens_cached", slot->n_cached},
                     {"n_decoded", slot->n_generated}});
  }
  std::lock_guard lock(mutex_);
  slots_snapshot_ = std::move(slots);
}

}  // namespace bitnet::server
