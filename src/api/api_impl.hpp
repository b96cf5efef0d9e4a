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

// The cache types of EngineConfig/BatchConfig (kv_f16, cache_type_k/_v) into `o`; throws
// Error(config) for an unknown type or q8_0 together with kv_f16 = false.
void set_kv_types(ContextOptions& o, bool kv_f16, const std::string& type_k,
                  const std::string& type_v);
// "F16", "F32", or "K q8_0 / V f16" style when the two differ.
std::string kv_cache_name(const ContextOptions& o);
// Where a LoadConfig or EngineConfig places the model: the CPU, else Error(device) saying whether
// the device is missing or present but not yet able to run the model.
void check_device(const Device& device);

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
    const auto cells = static_cast<size_t>(c.n_layer * ctx->n_ctx() * c.n_embd_kv());
    const auto bytes = [&](KvType t) {
      return t == KvType::F16 ? 2 * cells : t == KvType::F32 ? 4 * cells : cells / 32 * 34;
    };
    return bytes(ctx->options().type_k) + bytes(ctx->options().type_v);
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
