#include "model/context.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "bitnet/error.hpp"
#include "common/debug_env.hpp"
#include "model/forward_cpu.hpp"
#include "trace/debug_logits.hpp"
#include "trace/trace_recorder.hpp"

namespace bitnet {
namespace {

// llama.cpp's default n_ubatch: a longer batch runs as consecutive ubatches of this many tokens,
// and the batch-size-dependent numerics apply per ubatch.
constexpr int64_t kMaxUbatch = 512;

KvCache make_kv(const Model& model, const ContextOptions& o) {
  const auto& c = model.config();
  if (o.n_ctx <= 0)
    throw Error(ErrorCategory::config, "n_ctx must be positive, got " + std::to_string(o.n_ctx));
  if (o.n_seq <= 0)
    throw Error(ErrorCategory::config, "n_seq must be positive, got " + std::to_string(o.n_seq));
  const bool quantized = o.type_k == KvType::Q8_0 || o.type_v == KvType::Q8_0;
  if (quantized && c.head_dim % 32 != 0) {
    throw Error(ErrorCategory::config,
                "a q8_0 KV cache needs head_dim a multiple of 32 (this model: " +
                    std::to_string(c.head_dim) + ")");
  }
  return KvCache(c.n_layer, o.n_ctx, c.n_embd_kv(), o.type_k, o.type_v, o.n_seq);
}

}  // namespace

Context::Context(std::shared_ptr<const Model> model, const ContextOptions& options)
    : model_(std::move(model)), options_(options), kv_(make_kv(*model_, options)) {
  if (model_->offload().gpu_layers != 0) {
    // plan_offload only offloads with a built GPU backend, which this build does not have.
    throw Error(ErrorCategory::device, "the model's offload plan (" + model_->offload().describe() +
                                           ") needs a GPU backend this build lacks");
  }
  if (options.n_threads < 1) {
    throw Error(ErrorCategory::config,
                "n_threads must be at least 1, got " + std::to_string(options.n_threads));
  }
  if (debug_env::deterministic() && options_.n_threads != 1) {
    std::fprintf(stderr, "bitnet: BITNET_DETERMINISTIC=1: 1 thread (asked for %d)\n",
                 options_.n_threads);
    options_.n_threads = 1;
  }
  cpu_ = std::make_unique<CpuForward>(*model_, kv_, options_.n_threads, &observer_);
  layer_backend_.assign(static_cast<size_t>(model_->config().n_layer), cpu_.get());
  if (options_.trace_from_environment) {
    env_trace_ = TraceRecorder::from_environment();
    if (env_trace_) observer_ = env_trace_->observer();
  }
  if (debug_env::debug_logits()) debug_logits_ = std::make_unique<LogitsDebugPrinter>(*model_);
}

Context::~Context() = default;

void Context::eval(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) throw Error(ErrorCategory::config, "eval: no tokens");
  kv_.check_room(n);
  batch_.resize(tokens.size());
  const auto first = static_cast<int32_t>(kv_.n_past());
  for (size_t i = 0; i < tokens.size(); ++i) {
    batch_[i] = BatchToken{tokens[i], 0, first + static_cast<int32_t>(i),
                           all_logits || i + 1 == tokens.size()};
  }
  check_tokens(batch_);
  run_batch();
}

void Context::decode(std::span<const BatchToken> batch) {
  if (batch.empty()) throw Error(ErrorCategory::config, "decode: empty batch");
  check_tokens(batch);
  batch_.assign(batch.begin(), batch.end());
  run_batch();
}

void Context::check_tokens(std::span<const BatchToken> batch) {
  const int64_t n_vocab = model_->config().n_vocab;
  const int64_t n_seq = kv_.n_seq();
  ub_seq_count_.resize(static_cast<size_t>(n_seq));
  for (int64_t s = 0; s < n_seq; ++s) ub_seq_count_[static_cast<size_t>(s)] = kv_.n_past(s);
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchToken& t = batch[i];
    const auto where = [i] { return "batch token " + std::to_string(i); };
    if (t.token < 0 || t.token >= n_vocab) {
      throw Error(ErrorCategory::config, where() + " has id " + std::to_string(t.token) +
                                             ", outside the vocab [0, " + std::to_string(n_vocab) +
                                             ")");
    }
    if (t.seq < 0 || t.seq >= n_seq) {
      throw Error(ErrorCategory::config, where() + ": sequence id " + std::to_string(t.seq) +
                                             " outside [0, " + std::to_string(n_seq) + ")");
    }
    int64_t& next = ub_seq_count_[static_cast<size_t>(t.seq)];
    if (t.pos != next) {
      throw Error(ErrorCategory::config, where() + ": position " + std::to_string(t.pos) +
                                             " of sequence " + std::to_string(t.seq) +
                                             ", expected " + std::to_string(next) +
                                             " (positions continue each sequence)");
    }
    ++next;
  }
  for (int64_t s = 0; s < n_seq; ++s) {
    kv_.check_room(ub_seq_count_[static_cast<size_t>(s)] - kv_.n_past(s), s);
  }
}

void Context::run_batch() {
  const int64_t n_vocab = model_->config().n_vocab;
  logits_rows_ =
      std::count_if(batch_.begin(), batch_.end(), [](const BatchToken& t) { return t.logits; });
  logits_.resize(static_cast<size_t>(logits_rows_ * n_vocab));
  int64_t out_row = 0;
  for (size_t begin = 0; begin < batch_.size(); begin += kMaxUbatch) {
    const size_t end = std::min(batch_.size(), begin + static_cast<size_t>(kMaxUbatch));
    out_row += eval_ubatch(begin, end, out_row);
  }
  if (env_trace_) env_trace_->flush();  // a trace is complete after every eval, even on a crash
  if (debug_logits_)
    debug_logits_->print(batch_.back().pos + 1 - logits_rows_, logits_rows_, logits());
}

// Runs batch_[begin, end) as one forward pass and writes the logits of its flagged rows from row
// first_out_row on; returns how many it wrote.
int64_t Context::eval_ubatch(size_t begin, size_t end, int64_t first_out_row) {
  const auto& c = model_->config();
  const int64_t n = static_cast<int64_t>(end - begin);
  cpu_->reserve(n);
  residual_.resize(std::max(residual_.size(), static_cast<size_t>(n * c.n_embd)));
  for (auto* v : {&ub_token_, &ub_seq_, &ub_pos_}) v->resize(static_cast<size_t>(n));
  const auto n_seq = static_cast<size_t>(kv_.n_seq());
  ub_seq_end_.assign(n_seq, 0);
  ub_seq_count_.assign(n_seq, 0);
  for (size_t i = 0; i < end - begin; ++i) {
    const BatchToken& t = batch_[begin + i];
    ub_token_[i] = t.token;
    ub_seq_[i] = t.seq;
    ub_pos_[i] = t.pos;
    ub_seq_end_[static_cast<size_t>(t.seq)] = t.pos + 1;
    ++ub_seq_count_[static_cast<size_t>(t.seq)];
  }

  LayerBatch batch;
  batch.n_tokens = n;
  batch.first_pos = ub_pos_[0];
  batch.seq = ub_seq_.data();
  batch.pos = ub_pos_.data();
  batch.seq_end = ub_seq_end_.data();
  batch.numerics = batch_numerics(options_.numerics, c, kv_.k_type() != KvType::F32, n);
  batch.residual = residual_.data();
  cpu_->embed(ub_token_, batch);
  for (int64_t il = 0; il < c.n_layer; ++il)
    layer_backend_[static_cast<size_t>(il)]->forward_layer(il, batch);
  for (size_t s = 0; s < n_seq; ++s) {
    if (ub_seq_count_[s] > 0) kv_.commit(ub_seq_count_[s], static_cast<int64_t>(s));
  }

  // The head over each run of consecutive flagged rows.
  int64_t written = 0;
  for (int64_t r = 0; r < n;) {
    if (!batch_[begin + static_cast<size_t>(r)].logits) {
      ++r;
      continue;
    }
    int64_t run_end = r + 1;
    while (run_end < n && batch_[begin + static_cast<size_t>(run_end)].logits) ++run_end;
    cpu_->head(batch, r, run_end, logits_.data() + (first_out_row + written) * c.n_vocab);
    written += run_end - r;
    r = run_end;
  }
  return written;
}

std::span<const float> Context::logits() const {
  return {logits_.data(), static_cast<size_t>(logits_rows_ * model_->config().n_vocab)};
}

std::span<const float> Context::last_logits() const {
  if (logits_rows_ == 0) return {};
  const auto n_vocab = static_cast<size_t>(model_->config().n_vocab);
  return {logits_.data() + static_cast<size_t>(logits_rows_ - 1) * n_vocab, n_vocab};
}

std::span<const float> Context::logits_row(int64_t row) const {
  if (row < 0 || row >= logits_rows_) {
    throw Error(ErrorCategory::config, "logits row " + std::to_string(row) + " outside [0, " +
                                           std::to_string(logits_rows_) + ")");
  }
  const auto n_vocab = static_cast<size_t>(model_->config().n_vocab);
  return {logits_.data() + static_cast<size_t>(row) * n_vocab, n_vocab};
}

int32_t Context::n_past(int32_t seq) const {
  return static_cast<int32_t>(kv_.n_past(seq));
}
int32_t Context::n_seq() const {
  return static_cast<int32_t>(kv_.n_seq());
}
int32_t Context::n_ctx() const {
  return static_cast<int32_t>(kv_.n_ctx());
}
int32_t Context::n_vocab() const {
  return static_cast<int32_t>(model_->config().n_vocab);
}
void Context::reset() {
  kv_.reset();
}
void Context::truncate(int32_t n_past, int32_t seq) {
  kv_.truncate(n_past, seq);
}
void Context::set_stage_observer(StageObserver observer) {
  observer_ = std::move(observer);
  env_trace_.reset();
}

}  // namespace bitnet
