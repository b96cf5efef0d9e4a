// The private side of the C++ API (include/bitnet/bitnet.hpp): what its handles hold. Included only
// by src/api/*.cpp. The public classes are named bitnet::api::* here because the internal model
// class is bitnet::Model.
#pragma once

#define BITNET_API_NO_NAMESPACE_ALIASES 1

#include <memory>
#include <vector>

#include "bitnet/bitnet.hpp"
#include "generate/generator.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::api {

struct Model::Impl {
  std::shared_ptr<const bitnet::Model> model;
  tokenizer::Tokenizer tokenizer;
  ModelInfo info;
  ModelParams params;
};

struct Engine::Impl {
  Impl(Model m, const EngineConfig& c) : model(std::move(m)), engine_config(c) {}

  Model model;
  EngineConfig engine_config;
  std::unique_ptr<Context> ctx;
  std::vector<TokenId> tokens;  // what the KV cache holds (first ctx->n_past()) + pending ones
  PerformanceMetrics last_metrics;
  bool busy = false;  // a generation (possibly a TokenStream) is running

  const Model::Impl& model_impl() const { return *model.impl_; }
  // Starts a generation; marks the engine busy until the returned stream state is finished.
  std::unique_ptr<TokenStream::State> start(std::span<const TokenId> prompt,
                                            const GenerationConfig& config,
                                            generate::Clock::time_point started);
  GenerationResult run(std::span<const TokenId> prompt, const GenerationConfig& config,
                       const TextCallback& on_text, generate::Clock::time_point started);
  std::vector<TokenId> tokenize_prompt(std::string_view prompt) const;
  size_t kv_bytes() const {
    const auto& c = model_impl().model->config();
    const size_t element = ctx->options().kv_type == KvType::F16 ? 2 : 4;
    return 2 * element * static_cast<size_t>(c.n_layer * ctx->n_ctx() * c.n_embd_kv());
  }
};

struct TokenStream::State {
  Engine::Impl* engine = nullptr;
  std::unique_ptr<generate::Generator> generator;
  std::string text;  // everything emitted so far
  // Releases the engine and records the metrics once the generation is over.
  void close();
  ~State() { close(); }
};

}  // namespace bitnet::api
