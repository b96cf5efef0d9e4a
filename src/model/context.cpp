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
  return KvCache(c.n_layer, o.n_ctx, c.n_embd_kv(), o.kv_type);
}

}  // namespace

Context::Context(std::shared_ptr<const Model> model, const ContextOptions& options)
    : model_(std::move(model)), options_(options), kv_(make_kv(*model_, options)) {
  if (options.n_gpu_layers != 0) {
    throw Error(ErrorCategory::device, "n_gpu_layers = " + std::to_string(options.n_gpu_layers) +
                                           " but this build has no GPU backend (use 0)");
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
  const int64_t n_vocab = model_->config().n_vocab;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) {
      throw Error(ErrorCategory::config,
                  "eval: token " + std::to_string(i) + " has id " + std::to_string(tokens[i]) +
                      ", outside the vocab [0, " + std::to_string(n_vocab) + ")");
    }
  }
  logits_rows_ = all_logits ? n : 1;
  logits_.resize(static_cast<size_t>(logits_rows_ * n_vocab));
  for (int64_t begin = 0; begin < n; begin += kMaxUbatch) {
    const int64_t len = std::min(kMaxUbatch, n - begin);
    const bool last = begin + len == n;
    if (all_logits || last) {
      eval_ubatch(tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(len)), all_logits,
                  all_logits ? begin : 0);
    } else {
      eval_ubatch(tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(len)), false, -1);
    }
  }
  if (env_trace_) env_trace_->flush();  // a trace is complete after every eval, even on a crash
  if (debug_logits_) debug_logits_->print(kv_.n_past() - logits_rows_, logits_rows_, logits());
}

// Runs one ubatch; writes logits for all its rows (all_logits) at row first_out_row, or for its
// last row at row 0 when first_out_row >= 0, or none.
void Context::eval_ubatch(std::span<const int32_t> tokens, bool all_logits, int64_t first_out_row) {
  const auto& c = model_->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  cpu_->reserve(n);
  residual_.resize(std::max(residual_.size(), static_cast<size_t>(n * c.n_embd)));

  LayerBatch batch;
  batch.n_tokens = n;
  batch.first_pos = kv_.n_past();
  batch.numerics = batch_numerics(options_.numerics, c, kv_.type() == KvType::F16, n);
  batch.residual = residual_.data();
  cpu_->embed(tokens, batch.first_pos, batch.residual);
  for (int64_t il = 0; il < c.n_layer; ++il)
    layer_backend_[static_cast<size_t>(il)]->forward_layer(il, batch);
  kv_.commit(n);

  if (first_out_row < 0) return;
  float* out = logits_.data() + first_out_row * c.n_vocab;
  if (all_logits) {
    cpu_->head(batch, 0, n, out);
  } else {
    cpu_->head(batch, n - 1, n, out);
  }
}

std::span<const float> Context::logits() const {
  return {logits_.data(), static_cast<size_t>(logits_rows_ * model_->config().n_vocab)};
}

std::span<const float> Context::last_logits() const {
  if (logits_rows_ == 0) return {};
  const auto n_vocab = static_cast<size_t>(model_->config().n_vocab);
  return {logits_.data() + static_cast<size_t>(logits_rows_ - 1) * n_vocab, n_vocab};
}

int32_t Context::n_past() const {
  return static_cast<int32_t>(kv_.n_past());
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
void Context::truncate(int32_t n_past) {
  kv_.truncate(n_past);
}
void Context::set_stage_observer(StageObserver observer) {
  observer_ = std::move(observer);
  env_trace_.reset();
}

}  // namespace bitnet
