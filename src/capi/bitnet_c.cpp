// The general C API (include/bitnet/bitnet.h) over Model, Context, Tokenizer and the generation
// module's sampler (the one every front-end uses, so a seed gives the same tokens everywhere).
// Every entry point catches everything and records the message in a thread-local last error.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <utility>

#include "backends/cuda/device_query.hpp"
#include "bitnet/bitnet.h"
#include "bitnet/error.hpp"
#include "capi/c_boundary.hpp"
#include "generate/sampler.hpp"
#include "kernels/cpu_features.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "quant/tensor_type.hpp"
#include "tokenizer/tokenizer.hpp"

#ifndef BITNET_VERSION
#define BITNET_VERSION "unknown"
#endif

struct bitnet_model {
  std::shared_ptr<const bitnet::Model> model;
  bitnet::tokenizer::Tokenizer tokenizer;
  std::string weight_type;
};

struct bitnet_context {
  bitnet_model* owner;
  bitnet::ContextOptions options;
  std::unique_ptr<bitnet::Context> context;
  bool evaluated = false;
  // After bitnet_batch_decode: the logits row of each batch index (-1: no logits asked).
  std::vector<int32_t> batch_rows;
};

struct bitnet_batch {
  std::vector<bitnet::BatchToken> tokens;
  size_t capacity = 0;
};

struct bitnet_sampler {
  bitnet::generate::Sampler sampler;
};

namespace bitnet::capi {
namespace {

thread_local std::string t_last_error;

// The C sampler's settings as the generation module's: no min-p, no repetition penalty (the C
// API has neither); a seed of 0xFFFFFFFF draws one, as everywhere else.
GenerationConfig sampling_config(const bitnet_sampler_params& p) {
  GenerationConfig c;
  c.temperature = p.temperature;
  c.top_k = p.top_k;
  c.top_p = p.top_p;
  c.min_p = 0.0f;
  c.repeat_penalty = 1.0f;
  c.seed = p.seed;
  return c;
}

bitnet_status fail(bitnet_status status, std::string msg) noexcept {
  try {
    t_last_error = std::move(msg);
  } catch (...) {
    t_last_error.clear();
  }
  return status;
}

bitnet_status status_of(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::model:
      return BITNET_ERR_MODEL;
    case ErrorCategory::tokenizer:
      return BITNET_ERR_TOKENIZER;
    case ErrorCategory::config:
      return BITNET_ERR_INVALID_ARGUMENT;
    case ErrorCategory::io:
      return BITNET_ERR_IO;
    case ErrorCategory::memory:
      return BITNET_ERR_OUT_OF_MEMORY;
    case ErrorCategory::capacity:
      return BITNET_ERR_CONTEXT_FULL;
    case ErrorCategory::device:
      return BITNET_ERR_DEVICE;
    case ErrorCategory::internal:
      return BITNET_ERR_INTERNAL;
  }
  return BITNET_ERR_INTERNAL;
}

// Runs body() (which returns a bitnet_status) and turns exceptions into statuses + last error.
template <typename Body>
bitnet_status guarded(const char* what, Body&& body) noexcept {
  try {
    return body();
  } catch (const Error& e) {
    return fail(status_of(e.category()), std::string(what) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return fail(BITNET_ERR_OUT_OF_MEMORY, std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(BITNET_ERR_INTERNAL, std::string(what) + ": " + e.what());
  } catch (...) {
    return fail(BITNET_ERR_INTERNAL, std::string(what) + ": unknown exception");
  }
}

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// "no" without the backend; else the runtime and the devices, or why there are none.
std::string describe_cuda() {
  const cuda::RuntimeProbe& probe = cuda::probe_runtime();
  if (!probe.built) return "no";
  std::string text = "yes (runtime " + std::to_string(probe.runtime_version / 1000) + "." +
                     std::to_string(probe.runtime_version % 1000 / 10) + "; ";
  if (probe.devices.empty()) return text + "no device: " + probe.error + ")";
  for (size_t i = 0; i < probe.devices.size(); ++i) {
    const cuda::DeviceProperties& d = probe.devices[i];
    text += (i ? ", cuda:" : "cuda:") + std::to_string(d.index) + " " + d.name + " sm_" +
            std::to_string(d.compute_major) + std::to_string(d.compute_minor);
  }
  return text + ")";
}

std::string describe_build() {
  return std::string("bitnet ") + BITNET_VERSION + "; compiler " + __VERSION__ +
         "; cpu: " + kernels::cpu_features_string() + "; cuda: " + describe_cuda();
}

std::unique_ptr<Context> make_context(const bitnet_model& m, const ContextOptions& options) {
  return std::make_unique<Context>(m.model, options);
}

}  // namespace
}  // namespace bitnet::capi

using bitnet::capi::fail;
using bitnet::capi::guarded;

extern "C" {

// ---- library information

BITNET_API const char* bitnet_version(void) {
  return BITNET_VERSION;
}

BITNET_API const char* bitnet_build_info(void) {
  try {
    static const std::string info = bitnet::capi::describe_build();
    return info.c_str();
  } catch (...) {
    return "bitnet " BITNET_VERSION;
  }
}

BITNET_API const char* bitnet_cpu_features(void) {
  try {
    static const std::string features = bitnet::kernels::cpu_features_string();
    return features.c_str();
  } catch (...) {
    return "";
  }
}

BITNET_API bool bitnet_has_cuda(void) {
  return bitnet::cuda::probe_runtime().built;
}

BITNET_API int32_t bitnet_cuda_device_count(void) {
  return static_cast<int32_t>(bitnet::cuda::probe_runtime().devices.size());
}

BITNET_API bitnet_status bitnet_cuda_device_info(int32_t index, bitnet_cuda_device* out) {
  if (out == nullptr)
    return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_cuda_device_info: out is NULL");
  const auto& devices = bitnet::cuda::probe_runtime().devices;
  if (index < 0 || static_cast<size_t>(index) >= devices.size()) {
    return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_cuda_device_info: index " +
                                                 std::to_string(index) + " is out of range (" +
                                                 std::to_string(devices.size()) + " CUDA devices)");
  }
  const auto& d = devices[static_cast<size_t>(index)];
  *out = {};
  std::snprintf(out->name, sizeof out->name, "%s", d.name.c_str());
  out->total_bytes = d.total_bytes;
  out->free_bytes = d.free_bytes;
  out->compute_major = d.compute_major;
  out->compute_minor = d.compute_minor;
  return BITNET_OK;
}

BITNET_API const char* bitnet_last_error(void) {
  return bitnet::capi::t_last_error.c_str();
}

BITNET_API const char* bitnet_status_name(int32_t status) {
  switch (status) {
    case BITNET_OK:
      return "BITNET_OK";
    case BITNET_ERR_INVALID_ARGUMENT:
      return "BITNET_ERR_INVALID_ARGUMENT";
    case BITNET_ERR_IO:
      return "BITNET_ERR_IO";
    case BITNET_ERR_MODEL:
      return "BITNET_ERR_MODEL";
    case BITNET_ERR_TOKENIZER:
      return "BITNET_ERR_TOKENIZER";
    case BITNET_ERR_OUT_OF_MEMORY:
      return "BITNET_ERR_OUT_OF_MEMORY";
    case BITNET_ERR_CONTEXT_FULL:
      return "BITNET_ERR_CONTEXT_FULL";
    case BITNET_ERR_BUFFER_TOO_SMALL:
      return "BITNET_ERR_BUFFER_TOO_SMALL";
    case BITNET_ERR_DEVICE:
      return "BITNET_ERR_DEVICE";
    case BITNET_ERR_INTERNAL:
      return "BITNET_ERR_INTERNAL";
  }
  return "unknown";
}

// ---- model

BITNET_API bitnet_model_params bitnet_model_default_params(void) {
  bitnet_model_params p;
  p.n_gpu_layers = 0;
  p.progress = nullptr;
  p.progress_user_data = nullptr;
  p.head_type = BITNET_HEAD_STORED;
  return p;
}

BITNET_API bitnet_status bitnet_model_load(const char* path, const bitnet_model_params* params,
                                           bitnet_model** out_model) {
  return guarded("bitnet_model_load", [&] {
    if (out_model == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_load: out_model is NULL");
    *out_model = nullptr;
    if (path == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_load: path is NULL");
    const bitnet_model_params p = params ? *params : bitnet_model_default_params();
    if (p.n_gpu_layers < -1)
      return fail(
          BITNET_ERR_INVALID_ARGUMENT,
          "bitnet_model_load: n_gpu_layers must be >= -1, got " + std::to_string(p.n_gpu_layers));
    if (p.head_type < BITNET_HEAD_STORED || p.head_type > BITNET_HEAD_Q6_K)
      return fail(BITNET_ERR_INVALID_ARGUMENT,
                  "bitnet_model_load: head_type must be BITNET_HEAD_STORED, _Q8_0 or _Q6_K, got " +
                      std::to_string(p.head_type));
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      return fail(BITNET_ERR_IO, std::string("bitnet_model_load: file not found: ") + path);
    bitnet::LoadOptions options;
    options.n_gpu_layers = bitnet::capi::resolve_gpu_layers(p.n_gpu_layers);
    if (p.head_type == BITNET_HEAD_Q8_0) options.head_type = bitnet::TensorType::Q8_0;
    if (p.head_type == BITNET_HEAD_Q6_K) options.head_type = bitnet::TensorType::Q6_K;
    if (p.progress != nullptr) {
      options.progress = [cb = p.progress, user = p.progress_user_data](float f) { cb(f, user); };
    }
    auto model = bitnet::Model::load(path, options);
    auto tok = bitnet::tokenizer::Tokenizer::from_gguf(model->file());
    std::string weight_type(bitnet::to_string(model->config().weight_type));
    *out_model = new bitnet_model{std::move(model), std::move(tok), std::move(weight_type)};
    return BITNET_OK;
  });
}

BITNET_API void bitnet_model_free(bitnet_model* model) {
  delete model;
}

BITNET_API int32_t bitnet_model_n_vocab(const bitnet_model* m) {
  return m ? static_cast<int32_t>(m->model->config().n_vocab) : 0;
}
BITNET_API int32_t bitnet_model_n_ctx_train(const bitnet_model* m) {
  return m ? static_cast<int32_t>(m->model->config().n_ctx_train) : 0;
}
BITNET_API int32_t bitnet_model_n_embd(const bitnet_model* m) {
  return m ? static_cast<int32_t>(m->model->config().n_embd) : 0;
}
BITNET_API int32_t bitnet_model_n_layer(const bitnet_model* m) {
  return m ? static_cast<int32_t>(m->model->config().n_layer) : 0;
}
BITNET_API int32_t bitnet_model_n_gpu_layers(const bitnet_model* m) {
  return m ? static_cast<int32_t>(m->model->offload().gpu_layers) : 0;
}
BITNET_API const char* bitnet_model_gpu_device(const bitnet_model* m) {
  return m ? m->model->offload().device.c_str() : nullptr;
}
BITNET_API int32_t bitnet_model_n_head(const bitnet_model* m) {
  return m ? static_cast<int32_t>(m->model->config().n_head) : 0;
}
BITNET_API int32_t bitnet_model_n_head_kv(const bitnet_model* m) {
  return m ? static_cast<int32_t>(m->model->config().n_head_kv) : 0;
}
BITNET_API const char* bitnet_model_arch(const bitnet_model* m) {
  return m ? m->model->config().arch_name.c_str() : nullptr;
}
BITNET_API const char* bitnet_model_weight_type(const bitnet_model* m) {
  return m ? m->weight_type.c_str() : nullptr;
}
BITNET_API bitnet_token bitnet_model_token_bos(const bitnet_model* m) {
  return m ? m->tokenizer.special_ids().bos : -1;
}
BITNET_API bitnet_token bitnet_model_token_eos(const bitnet_model* m) {
  return m ? m->tokenizer.special_ids().eos : -1;
}
BITNET_API bool bitnet_model_token_is_eog(const bitnet_model* m, bitnet_token token) {
  try {
    return m != nullptr && m->tokenizer.is_eog(token);
  } catch (...) {
    return false;
  }
}

// ---- tokenizer

BITNET_API bitnet_status bitnet_tokenize(const bitnet_model* model, const char* text, bool add_bos,
                                         bool parse_special, bitnet_token* tokens, int32_t n_max,
                                         int32_t* out_n) {
  return guarded("bitnet_tokenize", [&] {
    if (model == nullptr || text == nullptr || out_n == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_tokenize: model, text or out_n is NULL");
    if (n_max < 0 || (tokens == nullptr && n_max > 0))
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_tokenize: tokens is NULL or n_max < 0");
    const auto ids = model->tokenizer.encode(text, add_bos, parse_special);
    *out_n = static_cast<int32_t>(ids.size());
    if (*out_n > n_max)
      return fail(BITNET_ERR_BUFFER_TOO_SMALL, "bitnet_tokenize: " + std::to_string(*out_n) +
                                                   " tokens needed, n_max " +
                                                   std::to_string(n_max));
    if (!ids.empty()) std::memcpy(tokens, ids.data(), ids.size() * sizeof(bitnet_token));
    return BITNET_OK;
  });
}

BITNET_API bitnet_status bitnet_detokenize(const bitnet_model* model, const bitnet_token* tokens,
                                           int32_t n_tokens, bool skip_special, char* buf,
                                           int32_t buf_size, int32_t* out_len) {
  return guarded("bitnet_detokenize", [&] {
    if (model == nullptr || out_len == nullptr || (tokens == nullptr && n_tokens > 0) ||
        n_tokens < 0)
      return fail(BITNET_ERR_INVALID_ARGUMENT,
                  "bitnet_detokenize: model/out_len/tokens NULL or n_tokens < 0");
    if (buf_size < 0 || (buf == nullptr && buf_size > 0))
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_detokenize: buf is NULL or buf_size < 0");
    const int32_t n_vocab = model->tokenizer.n_vocab();
    for (int32_t i = 0; i < n_tokens; ++i) {
      if (tokens[i] < 0 || tokens[i] >= n_vocab)
        return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_detokenize: token " + std::to_string(i) +
                                                     " has id " + std::to_string(tokens[i]) +
                                                     ", outside the vocab");
    }
    const std::string text =
        model->tokenizer.decode({tokens, static_cast<size_t>(n_tokens)}, skip_special);
    *out_len = static_cast<int32_t>(text.size());
    if (static_cast<int64_t>(text.size()) >= buf_size)
      return fail(BITNET_ERR_BUFFER_TOO_SMALL,
                  "bitnet_detokenize: " + std::to_string(text.size() + 1) +
                      " bytes needed, buf_size " + std::to_string(buf_size));
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    return BITNET_OK;
  });
}

// ---- context

BITNET_API bitnet_context_params bitnet_context_default_params(void) {
  bitnet_context_params p;
  p.n_ctx = 0;
  p.n_threads = 0;
  p.numerics = BITNET_NUMERICS_REFERENCE;
  p.kv_f32 = false;
  p.n_seq_max = 1;
  return p;
}

BITNET_API bitnet_status bitnet_context_create(bitnet_model* model,
                                               const bitnet_context_params* params,
                                               bitnet_context** out_ctx) {
  return guarded("bitnet_context_create", [&] {
    if (out_ctx == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_create: out_ctx is NULL");
    *out_ctx = nullptr;
    if (model == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_create: model is NULL");
    const bitnet_context_params p = params ? *params : bitnet_context_default_params();
    if (p.n_ctx < 0 || p.n_threads < 0)
      return fail(BITNET_ERR_INVALID_ARGUMENT,
                  "bitnet_context_create: n_ctx and n_threads must be >= 0");
    if (p.n_seq_max < 1)
      return fail(
          BITNET_ERR_INVALID_ARGUMENT,
          "bitnet_context_create: n_seq_max must be >= 1, got " + std::to_string(p.n_seq_max));
    if (p.numerics != BITNET_NUMERICS_REFERENCE && p.numerics != BITNET_NUMERICS_FAST)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_create: unknown numerics " +
                                                   std::to_string(static_cast<int>(p.numerics)));
    bitnet::ContextOptions options;
    const int32_t n_ctx_total =
        p.n_ctx > 0 ? p.n_ctx : static_cast<int32_t>(model->model->config().n_ctx_train);
    if (n_ctx_total < p.n_seq_max)
      return fail(BITNET_ERR_INVALID_ARGUMENT,
                  "bitnet_context_create: n_ctx " + std::to_string(n_ctx_total) +
                      " holds less than one position per sequence (n_seq_max " +
                      std::to_string(p.n_seq_max) + ")");
    options.n_seq = p.n_seq_max;
    options.n_ctx = n_ctx_total / p.n_seq_max;
    options.n_threads = p.n_threads > 0 ? p.n_threads : bitnet::capi::default_threads();
    options.numerics =
        p.numerics == BITNET_NUMERICS_FAST ? bitnet::Numerics::Fast : bitnet::Numerics::Reference;
    options.type_k = options.type_v = p.kv_f32 ? bitnet::KvType::F32 : bitnet::KvType::F16;
    auto ctx = std::make_unique<bitnet_context>();
    ctx->owner = model;
    ctx->options = options;
    ctx->context = bitnet::capi::make_context(*model, options);
    *out_ctx = ctx.release();
    return BITNET_OK;
  });
}

BITNET_API void bitnet_context_free(bitnet_context* ctx) {
  delete ctx;
}

BITNET_API int32_t bitnet_context_n_ctx(const bitnet_context* ctx) {
  return ctx ? ctx->context->n_ctx() * ctx->context->n_seq() : 0;
}
BITNET_API int32_t bitnet_context_n_past(const bitnet_context* ctx) {
  return ctx ? ctx->context->n_past() : 0;
}
BITNET_API int32_t bitnet_context_n_threads(const bitnet_context* ctx) {
  return ctx ? ctx->options.n_threads : 0;
}

BITNET_API bitnet_status bitnet_context_set_n_threads(bitnet_context* ctx, int32_t n_threads) {
  return guarded("bitnet_context_set_n_threads", [&] {
    if (ctx == nullptr || n_threads < 0)
      return fail(BITNET_ERR_INVALID_ARGUMENT,
                  "bitnet_context_set_n_threads: ctx is NULL or n_threads < 0");
    if (ctx->context->n_past_total() != 0)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_set_n_threads: the KV cache holds " +
                                                   std::to_string(ctx->context->n_past_total()) +
                                                   " positions; call bitnet_context_reset first");
    auto options = ctx->options;
    options.n_threads = n_threads > 0 ? n_threads : bitnet::capi::default_threads();
    ctx->context =
        bitnet::capi::make_context(*ctx->owner, options);  // strong guarantee: old kept on throw
    ctx->options = options;
    ctx->evaluated = false;
    return BITNET_OK;
  });
}

BITNET_API bitnet_status bitnet_context_reset(bitnet_context* ctx) {
  if (ctx == nullptr) return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_reset: ctx is NULL");
  ctx->context->reset();
  return BITNET_OK;
}

BITNET_API bitnet_status bitnet_context_truncate(bitnet_context* ctx, int32_t n_past) {
  return guarded("bitnet_context_truncate", [&] {
    if (ctx == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_truncate: ctx is NULL");
    if (n_past < 0 || n_past > ctx->context->n_past())
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_truncate: n_past " +
                                                   std::to_string(n_past) + " outside [0, " +
                                                   std::to_string(ctx->context->n_past()) + "]");
    ctx->context->truncate(n_past);
    return BITNET_OK;
  });
}

// ---- evaluation

BITNET_API bitnet_status bitnet_eval(bitnet_context* ctx, const bitnet_token* tokens,
                                     int32_t n_tokens, bool all_logits) {
  return guarded("bitnet_eval", [&] {
    if (ctx == nullptr || tokens == nullptr || n_tokens <= 0)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_eval: ctx/tokens NULL or n_tokens <= 0");
    ctx->context->eval({tokens, static_cast<size_t>(n_tokens)}, all_logits);
    ctx->evaluated = true;
    ctx->batch_rows.clear();
    return BITNET_OK;
  });
}

// ---- batches

BITNET_API bitnet_batch* bitnet_batch_init(int32_t n_tokens_max) {
  if (n_tokens_max < 1) {
    fail(BITNET_ERR_INVALID_ARGUMENT,
         "bitnet_batch_init: n_tokens_max must be >= 1, got " + std::to_string(n_tokens_max));
    return nullptr;
  }
  try {
    auto batch = std::make_unique<bitnet_batch>();
    batch->tokens.reserve(static_cast<size_t>(n_tokens_max));
    batch->capacity = static_cast<size_t>(n_tokens_max);
    return batch.release();
  } catch (const std::bad_alloc&) {
    fail(BITNET_ERR_OUT_OF_MEMORY, "bitnet_batch_init: out of memory");
    return nullptr;
  }
}

BITNET_API void bitnet_batch_free(bitnet_batch* batch) {
  delete batch;
}

BITNET_API void bitnet_batch_clear(bitnet_batch* batch) {
  if (batch) batch->tokens.clear();
}

BITNET_API int32_t bitnet_batch_n_tokens(const bitnet_batch* batch) {
  return batch ? static_cast<int32_t>(batch->tokens.size()) : 0;
}

BITNET_API bitnet_status bitnet_batch_add(bitnet_batch* batch, bitnet_token token, int32_t pos,
                                          int32_t seq_id, bool logits) {
  if (batch == nullptr || pos < 0 || seq_id < 0)
    return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_add: batch NULL, pos " +
                                                 std::to_string(pos) + " or seq_id " +
                                                 std::to_string(seq_id) + " negative");
  if (batch->tokens.size() >= batch->capacity)
    return fail(BITNET_ERR_CONTEXT_FULL, "bitnet_batch_add: the batch is full (n_tokens_max " +
                                             std::to_string(batch->capacity) + ")");
  batch->tokens.push_back(bitnet::BatchToken{token, seq_id, pos, logits});
  return BITNET_OK;
}

BITNET_API bitnet_status bitnet_batch_decode(bitnet_context* ctx, const bitnet_batch* batch) {
  return guarded("bitnet_batch_decode", [&] {
    if (ctx == nullptr || batch == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_decode: ctx or batch is NULL");
    if (batch->tokens.empty())
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_decode: the batch is empty");
    ctx->context->decode(batch->tokens);
    ctx->evaluated = true;
    ctx->batch_rows.resize(batch->tokens.size());
    int32_t row = 0;
    for (size_t i = 0; i < batch->tokens.size(); ++i)
      ctx->batch_rows[i] = batch->tokens[i].logits ? row++ : -1;
    return BITNET_OK;
  });
}

BITNET_API const float* bitnet_batch_get_logits(const bitnet_context* ctx, int32_t i) {
  if (ctx == nullptr || ctx->batch_rows.empty()) {
    fail(BITNET_ERR_INVALID_ARGUMENT,
         "bitnet_batch_get_logits: no batch decoded on this context (or ctx NULL)");
    return nullptr;
  }
  const auto n = static_cast<int32_t>(ctx->batch_rows.size());
  if (i == -1) {
    for (i = n - 1; i >= 0 && ctx->batch_rows[static_cast<size_t>(i)] < 0; --i) {
    }
  }
  if (i < 0 || i >= n || ctx->batch_rows[static_cast<size_t>(i)] < 0) {
    fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_get_logits: batch token " + std::to_string(i) +
                                          " is outside [0, " + std::to_string(n) +
                                          ") or had no logits requested");
    return nullptr;
  }
  return ctx->context->logits_row(ctx->batch_rows[static_cast<size_t>(i)]).data();
}

BITNET_API int32_t bitnet_context_n_seq_max(const bitnet_context* ctx) {
  return ctx ? ctx->context->n_seq() : 0;
}

BITNET_API int32_t bitnet_context_n_ctx_seq(const bitnet_context* ctx) {
  return ctx ? ctx->context->n_ctx() : 0;
}

BITNET_API int32_t bitnet_kv_seq_n_past(const bitnet_context* ctx, int32_t seq_id) {
  if (ctx == nullptr || seq_id < 0 || seq_id >= ctx->context->n_seq()) {
    fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_kv_seq_n_past: sequence id " +
                                          std::to_string(seq_id) + " outside [0, " +
                                          std::to_string(ctx ? ctx->context->n_seq() : 0) + ")");
    return -1;
  }
  return ctx->context->n_past(seq_id);
}

BITNET_API bitnet_status bitnet_kv_seq_truncate(bitnet_context* ctx, int32_t seq_id,
                                                int32_t n_past) {
  return guarded("bitnet_kv_seq_truncate", [&] {
    if (ctx == nullptr || seq_id < 0 || seq_id >= ctx->context->n_seq())
      return fail(BITNET_ERR_INVALID_ARGUMENT,
                  "bitnet_kv_seq_truncate: ctx NULL or sequence id " + std::to_string(seq_id) +
                      " outside [0, " + std::to_string(ctx ? ctx->context->n_seq() : 0) + ")");
    const int32_t used = ctx->context->n_past(seq_id);
    if (n_past < 0 || n_past > used)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_kv_seq_truncate: n_past " +
                                                   std::to_string(n_past) + " outside [0, " +
                                                   std::to_string(used) + "]");
    ctx->context->truncate(n_past, seq_id);
    return BITNET_OK;
  });
}

BITNET_API int32_t bitnet_n_logits_rows(const bitnet_context* ctx) {
  if (ctx == nullptr || !ctx->evaluated) return 0;
  return static_cast<int32_t>(ctx->context->logits().size() /
                              static_cast<size_t>(ctx->context->n_vocab()));
}

BITNET_API const float* bitnet_get_logits(const bitnet_context* ctx, int32_t i) {
  const int32_t rows = bitnet_n_logits_rows(ctx);
  if (i == -1) i = rows - 1;
  if (ctx == nullptr || i < 0 || i >= rows) {
    fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_get_logits: row " + std::to_string(i) +
                                          " outside [0, " + std::to_string(rows) +
                                          ") (or ctx NULL)");
    return nullptr;
  }
  return ctx->context->logits().data() +
         static_cast<size_t>(i) * static_cast<size_t>(ctx->context->n_vocab());
}

// ---- sampling

BITNET_API bitnet_sampler_params bitnet_sampler_default_params(void) {
  bitnet_sampler_params p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.seed = 42;
  return p;
}

BITNET_API bitnet_status bitnet_sampler_create(const bitnet_sampler_params* params,
                                               bitnet_sampler** out_sampler) {
  return guarded("bitnet_sampler_create", [&] {
    if (out_sampler == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_sampler_create: out_sampler is NULL");
    *out_sampler = nullptr;
    const bitnet_sampler_params p = params ? *params : bitnet_sampler_default_params();
    *out_sampler = new bitnet_sampler{bitnet::generate::Sampler(bitnet::capi::sampling_config(p))};
    return BITNET_OK;
  });
}

BITNET_API void bitnet_sampler_free(bitnet_sampler* sampler) {
  delete sampler;
}

BITNET_API bitnet_status bitnet_sampler_sample(bitnet_sampler* sampler, const float* logits,
                                               int32_t n_vocab, bitnet_token* out_token) {
  return guarded("bitnet_sampler_sample", [&] {
    if (sampler == nullptr || logits == nullptr || n_vocab <= 0 || out_token == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT,
                  "bitnet_sampler_sample: NULL argument or n_vocab <= 0");
    *out_token = sampler->sampler.sample({logits, static_cast<size_t>(n_vocab)}, {});
    return BITNET_OK;
  });
}

// ---- generation

BITNET_API bitnet_generate_params bitnet_generate_default_params(void) {
  bitnet_generate_params p;
  p.max_new_tokens = 128;
  p.sampling = bitnet_sampler_default_params();
  p.add_bos = true;
  p.parse_special = true;
  p.skip_special = true;
  p.on_token = nullptr;
  p.user_data = nullptr;
  p.on_logits = nullptr;
  p.logits_user_data = nullptr;
  return p;
}

BITNET_API bitnet_status bitnet_generate(bitnet_context* ctx, const char* prompt,
                                         const bitnet_generate_params* params,
                                         bitnet_generate_result* out_result) {
  return guarded("bitnet_generate", [&] {
    if (ctx == nullptr || prompt == nullptr)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_generate: ctx or prompt is NULL");
    const bitnet_generate_params p = params ? *params : bitnet_generate_default_params();
    if (p.max_new_tokens <= 0)
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_generate: max_new_tokens must be > 0, got " +
                                                   std::to_string(p.max_new_tokens));
    bitnet::generate::Sampler sampler(bitnet::capi::sampling_config(p.sampling));
    const auto& tok = ctx->owner->tokenizer;
    auto& context = *ctx->context;
    const auto prompt_ids = tok.encode(prompt, p.add_bos, p.parse_special);
    if (prompt_ids.empty())
      return fail(BITNET_ERR_INVALID_ARGUMENT, "bitnet_generate: the prompt has no tokens");

    bitnet_generate_result result{static_cast<int32_t>(prompt_ids.size()), 0, BITNET_FINISH_LENGTH};
    if (out_result != nullptr) *out_result = result;
    context.reset();
    ctx->evaluated = false;
    context.eval(prompt_ids, /*all_logits=*/false);  // CONTEXT_FULL when the prompt does not fit
    ctx->evaluated = true;

    bitnet::tokenizer::StreamDecoder decoder(tok, p.skip_special);
    while (result.n_generated < p.max_new_tokens) {
      const int32_t next = sampler.sample(context.last_logits(), {});
      if (p.on_logits != nullptr) {
        const auto row = context.last_logits();
        p.on_logits(next, row.data(), static_cast<int32_t>(row.size()), p.logits_user_data);
      }
      if (tok.is_eog(next)) {
        result.finish_reason = BITNET_FINISH_EOG;
        break;
      }
      ++result.n_generated;
      if (p.on_token != nullptr) {
        const std::string piece = decoder.push(next);
        if (!p.on_token(next, piece.data(), static_cast<int32_t>(piece.size()), p.user_data)) {
          result.finish_reason = BITNET_FINISH_CANCELLED;
          break;
        }
      }
      if (result.n_generated == p.max_new_tokens) break;
      if (context.n_past() >= context.n_ctx()) {
        result.finish_reason = BITNET_FINISH_CONTEXT_FULL;
        break;
      }
      context.eval({&next, 1}, /*all_logits=*/false);
    }
    if (out_result != nullptr) *out_result = result;
    return BITNET_OK;
  });
}

}  // extern "C"
