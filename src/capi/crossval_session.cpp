// The session ABI (include/bitnet/crossval_session.h) over our engine: one Model, its Tokenizer and
// one Context per handle, Numerics::Reference so that logits mirror the reference implementation.
// Every entry point catches everything; handles are checked against a registry of live sessions.
#include "bitnet/crossval_session.h"

#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "bitnet/error.hpp"
#include "capi/c_boundary.hpp"
#include "capi/handle_registry.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::capi {
namespace {

struct Session {
  Session(std::shared_ptr<const Model> m, const ContextOptions& options)
      : model(std::move(m)),
        tokenizer(tokenizer::Tokenizer::from_gguf(model->file())),
        context(model, options) {}
  std::shared_ptr<const Model> model;
  tokenizer::Tokenizer tokenizer;
  Context context;
};

using Registry = HandleRegistry<Session>;

Registry& registry() {
  static Registry instance;  // function-local: constructed on first use, thread-safe
  return instance;
}

// A session is used by one thread at a time (the ABI's contract): only the registry is locked.
Session* lookup(void* handle) noexcept {
  return registry().find(handle);
}

constexpr const char* kInvalidHandle = "invalid session handle (NULL, closed or never opened)";

int fail(char* err, int32_t err_len, int code, std::string_view msg) noexcept {
  write_message(err, err_len, msg);
  return code;
}

// Runs body() and turns any exception into `code` with its message; bad_alloc becomes
// `oom_code` (the evaluation entry points have no separate out-of-memory code).
template <typename Body>
int guarded(char* err, int32_t err_len, int code, int oom_code, const char* what,
            Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(err, err_len, oom_code, std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    try {
      return fail(err, err_len, code, std::string(what) + ": " + e.what());
    } catch (...) {
      return fail(err, err_len, code, what);
    }
  } catch (...) {
    return fail(err, err_len, code, std::string_view(what));
  }
}

int open_session(const char* model_path, int32_t n_ctx, int32_t n_gpu_layers, int32_t n_threads,
                 void** out_handle, char* err, int32_t err_len) {
  if (out_handle == nullptr) return fail(err, err_len, -4, "open: out_handle is NULL");
  *out_handle = nullptr;
  if (model_path == nullptr) return fail(err, err_len, -4, "open: model_path is NULL");
  if (n_ctx <= 0)
    return fail(err, err_len, -4, "open: n_ctx must be > 0, got " + std::to_string(n_ctx));
  if (n_gpu_layers < -1)
    return fail(err, err_len, -4,
                "open: n_gpu_layers must be >= -1, got " + std::to_string(n_gpu_layers));

  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_path, ec))
    return fail(err, err_len, -1, std::string("open: file not found: ") + model_path);

  ContextOptions options;
  options.n_ctx = n_ctx;
  options.n_threads = n_threads > 0 ? n_threads : 1;
  options.numerics = Numerics::Reference;
  LoadOptions load;
  load.n_gpu_layers = resolve_gpu_layers(n_gpu_layers);  // what cannot be offloaded: on stderr

  try {
    auto session = std::make_unique<Session>(Model::load(model_path, load), options);
    registry().add(session.get());
    *out_handle = session.release();
    return 0;
  } catch (const Error& e) {
    const std::string msg = std::string("open ") + model_path + ": " + e.what();
    switch (e.category()) {
      case ErrorCategory::io:
        return fail(err, err_len, -1, msg);
      case ErrorCategory::memory:
        return fail(err, err_len, -3, msg);
      default:
        return fail(err, err_len, -2, msg);
    }
  }
}

}  // namespace
}  // namespace bitnet::capi

using bitnet::capi::fail;
using bitnet::capi::guarded;
using bitnet::capi::kInvalidHandle;
using bitnet::capi::lookup;

extern "C" {

CROSSVAL_API int crossval_bitnet_open(const char* model_path, int32_t n_ctx, void** out_handle,
                                      char* err, int32_t err_len) {
  return crossval_bitnet_open_ex(model_path, n_ctx, 0, 0, out_handle, err, err_len);
}

CROSSVAL_API int crossval_bitnet_open_ex(const char* model_path, int32_t n_ctx,
                                         int32_t n_gpu_layers, int32_t n_threads, void** out_handle,
                                         char* err, int32_t err_len) {
  return guarded(err, err_len, -2, -3, "open", [&] {
    return bitnet::capi::open_session(model_path, n_ctx, n_gpu_layers, n_threads, out_handle, err,
                                      err_len);
  });
}

CROSSVAL_API int crossval_bitnet_close(void* handle) {
  if (handle == nullptr) return -1;
  try {
    auto session = bitnet::capi::registry().take(handle);
    if (!session) return -1;
    session.reset();
    return 0;
  } catch (...) {
    return -2;
  }
}

CROSSVAL_API int crossval_bitnet_tokenize_with(void* handle, const char* prompt, int add_bos,
                                               int32_t* out_tokens, int32_t out_cap,
                                               int32_t* out_len, char* err, int32_t err_len) {
  return guarded(err, err_len, -4, -4, "tokenize", [&] {
    auto* s = lookup(handle);
    if (s == nullptr) return fail(err, err_len, -1, kInvalidHandle);
    if (prompt == nullptr) return fail(err, err_len, -2, "tokenize: prompt is NULL");
    if (out_len == nullptr) return fail(err, err_len, -2, "tokenize: out_len is NULL");
    if (out_cap < 0 || (out_tokens == nullptr && out_cap > 0))
      return fail(err, err_len, -2, "tokenize: out_tokens is NULL or out_cap < 0");
    const auto ids = s->tokenizer.encode(prompt, add_bos != 0, /*parse_special=*/true);
    const auto n = static_cast<int32_t>(ids.size());
    *out_len = n;
    if (n > out_cap) {
      return fail(err, err_len, -3,
                  "tokenize: buffer too small: " + std::to_string(n) + " tokens needed, capacity " +
                      std::to_string(out_cap));
    }
    if (n > 0) std::memcpy(out_tokens, ids.data(), ids.size() * sizeof(int32_t));
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_prefill(void* handle, const int32_t* tokens, int32_t n_tokens,
                                         char* err, int32_t err_len) {
  return guarded(err, err_len, -4, -4, "prefill", [&] {
    auto* s = lookup(handle);
    if (s == nullptr) return fail(err, err_len, -1, kInvalidHandle);
    if (tokens == nullptr || n_tokens <= 0)
      return fail(err, err_len, -2, "prefill: tokens NULL or n_tokens <= 0");
    auto& ctx = s->context;
    if (static_cast<int64_t>(ctx.n_past()) + n_tokens > ctx.n_ctx()) {
      return fail(err, err_len, -3,
                  "prefill: " + std::to_string(n_tokens) + " tokens after " +
                      std::to_string(ctx.n_past()) + " would exceed the context of " +
                      std::to_string(ctx.n_ctx()));
    }
    ctx.eval({tokens, static_cast<size_t>(n_tokens)}, /*all_logits=*/false);
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_eval_last(void* handle, const int32_t* tokens, int32_t n_tokens,
                                           float* logits, int32_t vocab, char* err,
                                           int32_t err_len) {
  return guarded(err, err_len, -4, -4, "eval_last", [&] {
    auto* s = lookup(handle);
    if (s == nullptr) return fail(err, err_len, -1, kInvalidHandle);
    if (tokens == nullptr || n_tokens <= 0 || logits == nullptr)
      return fail(err, err_len, -2, "eval_last: tokens/logits NULL or n_tokens <= 0");
    auto& ctx = s->context;
    if (vocab != ctx.n_vocab()) {
      return fail(err, err_len, -3,
                  "eval_last: vocab " + std::to_string(vocab) + " != the model's " +
                      std::to_string(ctx.n_vocab()));
    }
    if (static_cast<int64_t>(ctx.n_past()) + n_tokens > ctx.n_ctx()) {
      return fail(err, err_len, -5,
                  "eval_last: KV cache overflow: " + std::to_string(n_tokens) + " tokens after " +
                      std::to_string(ctx.n_past()) + ", context " + std::to_string(ctx.n_ctx()));
    }
    ctx.eval({tokens, static_cast<size_t>(n_tokens)}, /*all_logits=*/false);
    const auto last = ctx.last_logits();
    std::memcpy(logits, last.data(), last.size() * sizeof(float));
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_eval_all(void* handle, const int32_t* tokens, int32_t n_tokens,
                                          float* logits, int32_t rows_cap, int32_t* out_rows,
                                          int32_t* out_cols, char* err, int32_t err_len) {
  return guarded(err, err_len, -4, -4, "eval_all", [&] {
    auto* s = lookup(handle);
    if (s == nullptr) return fail(err, err_len, -1, kInvalidHandle);
    if (tokens == nullptr || n_tokens <= 0 || logits == nullptr || out_rows == nullptr ||
        out_cols == nullptr)
      return fail(err, err_len, -2,
                  "eval_all: tokens/logits/out_rows/out_cols NULL or n_tokens <= 0");
    if (rows_cap < n_tokens) {
      return fail(err, err_len, -3,
                  "eval_all: rows_cap " + std::to_string(rows_cap) + " < n_tokens " +
                      std::to_string(n_tokens));
    }
    auto& ctx = s->context;
    if (n_tokens > ctx.n_ctx()) {
      return fail(err, err_len, -5,
                  "eval_all: " + std::to_string(n_tokens) + " tokens exceed the context of " +
                      std::to_string(ctx.n_ctx()));
    }
    ctx.reset();  // batch mode: positions 0..n_tokens-1
    ctx.eval({tokens, static_cast<size_t>(n_tokens)}, /*all_logits=*/true);
    const auto all = ctx.logits();
    std::memcpy(logits, all.data(), all.size() * sizeof(float));
    *out_rows = n_tokens;
    *out_cols = ctx.n_vocab();
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_vocab_size(void* handle, int32_t* out_vocab) {
  auto* s = lookup(handle);
  if (s == nullptr || out_vocab == nullptr) return -1;
  *out_vocab = s->context.n_vocab();
  return 0;
}

CROSSVAL_API int crossval_bitnet_context_size(void* handle, int32_t* out_ctx) {
  auto* s = lookup(handle);
  if (s == nullptr || out_ctx == nullptr) return -1;
  *out_ctx = s->context.n_ctx();
  return 0;
}

CROSSVAL_API int crossval_bitnet_reset(void* handle) {
  auto* s = lookup(handle);
  if (s == nullptr) return -1;
  s->context.reset();
  return 0;
}

CROSSVAL_API int crossval_bitnet_n_past(void* handle, int32_t* out_n_past) {
  auto* s = lookup(handle);
  if (s == nullptr || out_n_past == nullptr) return -1;
  *out_n_past = s->context.n_past();
  return 0;
}

}  // extern "C"
