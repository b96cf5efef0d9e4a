// bitnet::BatchContext: the multi-sequence Context of the C++ API.
#include <algorithm>
#include <string>
#include <thread>

#include "api/api_impl.hpp"

namespace bitnet::api {

struct BatchContext::Impl {
  explicit Impl(Model m) : model(std::move(m)) {}
  Model model;
  std::unique_ptr<Context> ctx;
  std::vector<bitnet::BatchToken> batch;  // the API's tokens in the Context's form
};

namespace {

ContextOptions batch_context_options(const BatchConfig& config) {
  if (config.n_seq_max < 1) {
    throw Error(ErrorCategory::config,
                "BatchConfig.n_seq_max must be >= 1, got " + std::to_string(config.n_seq_max));
  }
  if (config.n_ctx < config.n_seq_max) {
    throw Error(ErrorCategory::config, "BatchConfig.n_ctx (" + std::to_string(config.n_ctx) +
                                           ") must hold at least one cell per sequence (" +
                                           std::to_string(config.n_seq_max) + ")");
  }
  if (config.n_threads < 0) {
    throw Error(ErrorCategory::config, "BatchConfig.n_threads must be >= 0 (0 = all), got " +
                                           std::to_string(config.n_threads));
  }
  ContextOptions o;
  o.n_seq = config.n_seq_max;
  o.n_ctx = config.n_ctx / config.n_seq_max;
  o.n_threads = config.n_threads > 0
                    ? config.n_threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  set_kv_types(o, config.kv_f16, config.cache_type_k, config.cache_type_v);
  o.numerics = config.reference_numerics ? Numerics::Reference : Numerics::Fast;
  return o;
}

}  // namespace

BatchContext::BatchContext(const Model& model, const BatchConfig& config)
    : impl_(std::make_unique<Impl>(model)) {
  impl_->ctx = std::make_unique<Context>(model.impl_->model, batch_context_options(config));
}

BatchContext::~BatchContext() = default;
BatchContext::BatchContext(BatchContext&&) noexcept = default;
BatchContext& BatchContext::operator=(BatchContext&&) noexcept = default;

void BatchContext::decode(std::span<const BatchToken> batch) {
  impl_->batch.resize(batch.size());
  std::transform(batch.begin(), batch.end(), impl_->batch.begin(), [](const BatchToken& t) {
    return bitnet::BatchToken{t.token, t.seq_id, t.pos, t.logits};
  });
  impl_->ctx->decode(impl_->batch);
}

int32_t BatchContext::n_logits() const {
  return static_cast<int32_t>(impl_->ctx->n_logits_rows());
}
std::span<const float> BatchContext::logits(int32_t i) const {
  return impl_->ctx->logits_row(i);
}
int32_t BatchContext::n_past(int32_t seq_id) const {
  if (seq_id < 0 || seq_id >= impl_->ctx->n_seq()) {
    throw Error(ErrorCategory::config, "sequence id " + std::to_string(seq_id) + " outside [0, " +
                                           std::to_string(impl_->ctx->n_seq()) + ")");
  }
  return impl_->ctx->n_past(seq_id);
}
int32_t BatchContext::n_ctx_seq() const {
  return impl_->ctx->n_ctx();
}
int32_t BatchContext::n_seq_max() const {
  return impl_->ctx->n_seq();
}
void BatchContext::seq_truncate(int32_t seq_id, int32_t n_past) {
  impl_->ctx->truncate(n_past, seq_id);
}
void BatchContext::seq_clear(int32_t seq_id) {
  impl_->ctx->truncate(0, seq_id);
}
const Model& BatchContext::model() const {
  return impl_->model;
}

}  // namespace bitnet::api
