// bitnet::Engine and bitnet::TokenStream: generation over one Context.
#include <algorithm>
#include <string>
#include <thread>

#include "api/api_impl.hpp"

namespace bitnet::api {
namespace {

ContextOptions context_options(const Model::Impl& model, const EngineConfig& config) {
  if (config.n_ctx < 0)
    throw Error(ErrorCategory::config, "EngineConfig.n_ctx must be >= 0 (0 = the model's), got " +
                                           std::to_string(config.n_ctx));
  if (config.n_threads < 0)
    throw Error(ErrorCategory::config, "EngineConfig.n_threads must be >= 0 (0 = all), got " +
                                           std::to_string(config.n_threads));
  check_device(config.device);
  ContextOptions o;
  o.n_ctx = config.n_ctx > 0
                ? config.n_ctx
                : static_cast<int32_t>(std::max<int64_t>(1, model.model->config().n_ctx_train));
  o.n_threads = config.n_threads > 0
                    ? config.n_threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  set_kv_types(o, config.kv_f16, config.cache_type_k, config.cache_type_v);
  o.numerics = config.reference_numerics ? Numerics::Reference : Numerics::Fast;
  return o;
}

}  // namespace

// ---- Engine::Impl

std::vector<TokenId> Engine::Impl::tokenize_prompt(std::string_view prompt) const {
  const auto& tok = model_impl().tokenizer;
  return tok.encode(prompt, tok.add_bos_default(), /*parse_special=*/true);
}

std::unique_ptr<TokenStream::State> Engine::Impl::start(std::span<const TokenId> prompt,
                                                        const GenerationConfig& config,
                                                        generate::Clock::time_point started) {
  if (busy)
    throw Error(ErrorCategory::config,
                "Engine: a generation is already running (finish or destroy its TokenStream)");
  auto state = std::make_unique<TokenStream::State>();
  state->generator = std::make_unique<generate::Generator>(*ctx, model_impl().tokenizer, tokens,
                                                           prompt, config, started);
  state->engine = this;
  busy = true;
  return state;
}

GenerationResult Engine::Impl::run(std::span<const TokenId> prompt, const GenerationConfig& config,
                                   const TextCallback& on_text,
                                   generate::Clock::time_point started) {
  auto state = start(prompt, config, started);
  auto& gen = *state->generator;
  std::string piece;
  while (gen.next(piece)) {
    state->text += piece;
    if (on_text && !on_text(piece)) gen.cancel();
  }
  GenerationResult result;
  result.text = std::move(state->text);
  result.tokens.assign(gen.generated().begin(), gen.generated().end());
  result.finish_reason = gen.finish_reason();
  result.metrics = gen.metrics();
  result.seed = gen.seed();
  state->close();
  return result;
}

void TokenStream::State::close() {
  if (engine == nullptr) return;
  if (generator) {
    generator->cancel();
    engine->last_metrics = generator->metrics();
  }
  engine->busy = false;
  engine = nullptr;
}

// ---- Engine

Engine::Engine(const Model& model, const EngineConfig& config)
    : impl_(std::make_unique<Impl>(model, config)) {
  impl_->ctx = std::make_unique<Context>(model.impl_->model, context_options(*model.impl_, config));
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

GenerationResult Engine::generate(std::string_view prompt, const GenerationConfig& config) {
  return generate_stream(prompt, config, {});
}

GenerationResult Engine::generate_stream(std::string_view prompt, const GenerationConfig& config,
                                         const TextCallback& on_text) {
  const auto started = generate::Clock::now();
  config.validate();
  const auto tokens = impl_->tokenize_prompt(prompt);
  return impl_->run(tokens, config, on_text, started);
}

GenerationResult Engine::generate_tokens(std::span<const TokenId> prompt,
                                         const GenerationConfig& config,
                                         const TextCallback& on_text) {
  return impl_->run(prompt, config, on_text, generate::Clock::now());
}

TokenStream Engine::stream(std::string_view prompt, const GenerationConfig& config) {
  const auto started = generate::Clock::now();
  config.validate();
  const auto tokens = impl_->tokenize_prompt(prompt);
  return TokenStream(impl_->start(tokens, config, started));
}

std::span<const float> Engine::eval(std::span<const TokenId> tokens, bool all_logits) {
  if (impl_->busy) throw Error(ErrorCategory::config, "Engine::eval: a generation is running");
  auto& ctx = *impl_->ctx;
  ctx.eval(tokens, all_logits);  // throws before changing anything
  // The sequence the cache holds, then the new tokens; a pending (unevaluated) token goes.
  const auto kept = static_cast<size_t>(ctx.n_past()) - tokens.size();
  impl_->tokens.resize(std::min(impl_->tokens.size(), kept));
  impl_->tokens.insert(impl_->tokens.end(), tokens.begin(), tokens.end());
  return ctx.logits();
}

int32_t Engine::n_past() const {
  return impl_->ctx->n_past();
}

void Engine::clear_cache() {
  if (impl_->busy)
    throw Error(ErrorCategory::config, "Engine::clear_cache: a generation is running");
  impl_->ctx->reset();
  impl_->tokens.clear();
}

EngineStats Engine::stats() const {
  const auto& ctx = *impl_->ctx;
  EngineStats s;
  s.n_ctx = ctx.n_ctx();
  s.kv_tokens = ctx.n_past();
  s.kv_usage = s.n_ctx > 0 ? static_cast<double>(s.kv_tokens) / s.n_ctx : 0.0;
  s.kv_bytes = static_cast<int64_t>(impl_->kv_bytes());
  s.n_threads = ctx.options().n_threads;
  s.device = Device::cpu();
  s.backend = "cpu (" + std::to_string(s.n_threads) +
              (s.n_threads == 1 ? " thread, " : " threads, ") +
              kv_cache_name(ctx.options()) + " KV cache, " +
              (ctx.options().numerics == Numerics::Reference ? "reference" : "fast") + " numerics)";
  return s;
}

const PerformanceMetrics& Engine::last_metrics() const {
  return impl_->last_metrics;
}
const Model& Engine::model() const {
  return impl_->model;
}

// ---- TokenStream

TokenStream::TokenStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
TokenStream::TokenStream(TokenStream&&) noexcept = default;
TokenStream& TokenStream::operator=(TokenStream&&) noexcept = default;
TokenStream::~TokenStream() = default;

TokenStream::iterator TokenStream::begin() {
  if (!started_) {
    started_ = true;
    if (!next()) return iterator(nullptr);
  }
  return iterator(state_->engine ? this : nullptr);
}

bool TokenStream::next() {
  started_ = true;
  if (!state_ || !state_->generator) return false;
  if (!state_->generator->next(piece_)) {
    piece_.clear();
    state_->close();
    return false;
  }
  state_->text += piece_;
  return true;
}

void TokenStream::cancel() {
  if (state_) state_->close();
}

bool TokenStream::finished() const {
  return !state_ || state_->generator->finished();
}

GenerationResult TokenStream::result() const {
  GenerationResult r;
  if (!state_) return r;
  const auto& gen = *state_->generator;
  r.text = state_->text;
  r.tokens.assign(gen.generated().begin(), gen.generated().end());
  r.finish_reason = gen.finish_reason();
  r.metrics = gen.metrics();
  r.seed = gen.seed();
  return r;
}

}  // namespace bitnet::api
