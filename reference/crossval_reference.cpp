// libbitnet_reference.so: the session ABI (crossval_session.h) over a reference llama.h, so that
// both sides of a comparison speak the same ABI. Works with both llama.h generations:
//  - old (Microsoft bitnet.cpp's llama.cpp fork, 2024): llama_load_model_from_file,
//    llama_new_context_with_model, llama_tokenize(model, ...), llama_n_vocab(model),
//    llama_kv_cache_clear;
//  - new (upstream llama.cpp, 2025+): llama_model_load_from_file, llama_init_from_model,
//    llama_tokenize(vocab, ...), llama_vocab_n_tokens, llama_memory_clear / llama_kv_self_clear.
// CMake detects which one the header has (reference/CMakeLists.txt) and defines BITNET_REF_*.
// Settings mirror how the goldens were made: F16 KV cache, no flash attention, every prompt token
// in one batch (n_batch = n_ctx, ubatches of 512), 1 thread unless asked.
// Besides the session ABI it exports crossval_reference_kind(): which reference it runs over, as
// the loaded ggml tells, so that tests pick the goldens that reference made.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "bitnet/crossval_session.h"
#include "capi/c_boundary.hpp"
#include "capi/handle_registry.hpp"
#include "ggml.h"
#include "llama.h"

// Not in crossval_session.h: only the adapter has it (libbitnet.so does not).
extern "C" CROSSVAL_API const char* crossval_reference_kind(void);

namespace {

using bitnet::capi::write_message;

#if BITNET_REF_NEW_API
llama_model* load_model(const char* path, const llama_model_params& p) {
  return llama_model_load_from_file(path, p);
}
llama_context* new_context(llama_model* m, const llama_context_params& p) {
  return llama_init_from_model(m, p);
}
void free_model(llama_model* m) {
  llama_model_free(m);
}
int32_t n_vocab_of(const llama_model* m) {
  return llama_vocab_n_tokens(llama_model_get_vocab(m));
}
int32_t tokenize(const llama_model* m, const char* text, int32_t len, llama_token* out, int32_t cap,
                 bool add_bos) {
  return llama_tokenize(llama_model_get_vocab(m), text, len, out, cap, add_bos,
                        /*parse_special=*/true);
}
#else
llama_model* load_model(const char* path, const llama_model_params& p) {
  return llama_load_model_from_file(path, p);
}
llama_context* new_context(llama_model* m, const llama_context_params& p) {
  return llama_new_context_with_model(m, p);
}
void free_model(llama_model* m) {
  llama_free_model(m);
}
int32_t n_vocab_of(const llama_model* m) {
  return llama_n_vocab(m);
}
int32_t tokenize(const llama_model* m, const char* text, int32_t len, llama_token* out, int32_t cap,
                 bool add_bos) {
  return llama_tokenize(m, text, len, out, cap, add_bos, /*parse_special=*/true);
}
#endif

void clear_cache(llama_context* ctx) {
#if BITNET_REF_HAS_MEMORY_API
  llama_memory_clear(llama_get_memory(ctx), true);
#elif BITNET_REF_HAS_KV_SELF
  llama_kv_self_clear(ctx);
#else
  llama_kv_cache_clear(ctx);
#endif
}

void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

void init_backend_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
  });
}

struct Session {
  llama_model* model = nullptr;
  llama_context* ctx = nullptr;
  int32_t n_ctx = 0;
  int32_t n_vocab = 0;
  int32_t n_past = 0;
  llama_batch batch{};
  bool has_batch = false;
  ~Session() {
    if (has_batch) llama_batch_free(batch);
    if (ctx != nullptr) llama_free(ctx);
    if (model != nullptr) free_model(model);
  }
};

using Registry = bitnet::capi::HandleRegistry<Session>;
Registry& registry() {
  static Registry instance;
  return instance;
}

constexpr const char* kInvalidHandle = "invalid session handle (NULL, closed or never opened)";

int fail(char* err, int32_t err_len, int code, const std::string& msg) noexcept {
  write_message(err, err_len, msg);
  return code;
}

// Decodes tokens at positions n_past.. in one llama_decode call; logits for every row (all) or
// the last. Returns llama_decode's status.
int decode(Session& s, const int32_t* tokens, int32_t n, bool all) {
  llama_batch& b = s.batch;
  b.n_tokens = n;
  for (int32_t i = 0; i < n; ++i) {
    b.token[i] = tokens[i];
    b.pos[i] = s.n_past + i;
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = (all || i == n - 1) ? 1 : 0;
  }
  const int rc = llama_decode(s.ctx, b);
  if (rc == 0) s.n_past += n;
  return rc;
}

bool tokens_in_vocab(const Session& s, const int32_t* tokens, int32_t n) {
  return std::all_of(tokens, tokens + n, [&](int32_t t) { return t >= 0 && t < s.n_vocab; });
}

template <typename Body>
int guarded(char* err, int32_t err_len, int code, const char* what, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(err, err_len, code, std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(err, err_len, code, std::string(what) + ": " + e.what());
  } catch (...) {
    return fail(err, err_len, code, what);
  }
}

}  // namespace

extern "C" {

CROSSVAL_API int crossval_bitnet_open_ex(const char* model_path, int32_t n_ctx,
                                         int32_t n_gpu_layers, int32_t n_threads, void** out_handle,
                                         char* err, int32_t err_len) {
  return guarded(err, err_len, -3, "open", [&] {
    if (out_handle == nullptr) return fail(err, err_len, -4, "open: out_handle is NULL");
    *out_handle = nullptr;
    if (model_path == nullptr) return fail(err, err_len, -4, "open: model_path is NULL");
    if (n_ctx <= 0)
      return fail(err, err_len, -4, "open: n_ctx must be > 0, got " + std::to_string(n_ctx));
    if (n_gpu_layers < -1) return fail(err, err_len, -4, "open: n_gpu_layers must be >= -1");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(model_path, ec))
      return fail(err, err_len, -1, std::string("open: file not found: ") + model_path);
    init_backend_once();

    const int32_t layers = bitnet::capi::resolve_gpu_layers(n_gpu_layers);
    if (layers != 0 && !llama_supports_gpu_offload()) bitnet::capi::note_cpu_fallback(layers);
    auto s = std::make_unique<Session>();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = layers < 0 ? 9999 : layers;
    s->model = load_model(model_path, mp);
    if (s->model == nullptr)
      return fail(err, err_len, -2,
                  std::string("open: the reference could not load ") + model_path);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<uint32_t>(n_ctx);
    cp.n_batch = static_cast<uint32_t>(n_ctx);  // eval_all is one batch, like the goldens
    cp.n_ubatch = std::min<uint32_t>(512, static_cast<uint32_t>(n_ctx));
    cp.n_threads = n_threads > 0 ? n_threads : 1;
    cp.n_threads_batch = cp.n_threads;
#if BITNET_REF_HAS_FLASH_ATTN_TYPE
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
#elif BITNET_REF_HAS_FLASH_ATTN_BOOL
    cp.flash_attn = false;
#endif
    s->ctx = new_context(s->model, cp);
    if (s->ctx == nullptr)
      return fail(
          err, err_len, -3,
          "open: the reference could not create a context of n_ctx " + std::to_string(n_ctx));
    // llama.cpp may round the context up (to 256 in 2025+); the session keeps the size asked for,
    // so that overflow is reported at the same point as by our engine (and the batch never grows).
    if (llama_n_ctx(s->ctx) < static_cast<uint32_t>(n_ctx))
      return fail(err, err_len, -3,
                  "open: the reference gave a context of " + std::to_string(llama_n_ctx(s->ctx)));
    s->n_ctx = n_ctx;
    s->n_vocab = n_vocab_of(s->model);
    s->batch = llama_batch_init(n_ctx, 0, 1);
    s->has_batch = true;
    registry().add(s.get());
    *out_handle = s.release();
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_open(const char* model_path, int32_t n_ctx, void** out_handle,
                                      char* err, int32_t err_len) {
  return crossval_bitnet_open_ex(model_path, n_ctx, 0, 0, out_handle, err, err_len);
}

CROSSVAL_API int crossval_bitnet_close(void* handle) {
  if (handle == nullptr) return -1;
  try {
    auto s = registry().take(handle);
    return s ? 0 : -1;
  } catch (...) {
    return -2;
  }
}

CROSSVAL_API int crossval_bitnet_tokenize_with(void* handle, const char* prompt, int add_bos,
                                               int32_t* out_tokens, int32_t out_cap,
                                               int32_t* out_len, char* err, int32_t err_len) {
  return guarded(err, err_len, -4, "tokenize", [&] {
    Session* s = registry().find(handle);
    if (s == nullptr) return fail(err, err_len, -1, kInvalidHandle);
    if (prompt == nullptr) return fail(err, err_len, -2, "tokenize: prompt is NULL");
    if (out_len == nullptr) return fail(err, err_len, -2, "tokenize: out_len is NULL");
    if (out_cap < 0 || (out_tokens == nullptr && out_cap > 0))
      return fail(err, err_len, -2, "tokenize: out_tokens is NULL or out_cap < 0");
    const auto len = static_cast<int32_t>(std::strlen(prompt));
    // llama_tokenize returns -(count needed) when the buffer is too small.
    std::vector<llama_token> ids(static_cast<size_t>(len) + 2);
    int32_t n =
        tokenize(s->model, prompt, len, ids.data(), static_cast<int32_t>(ids.size()), add_bos != 0);
    if (n < 0) {
      ids.resize(static_cast<size_t>(-n));
      n = tokenize(s->model, prompt, len, ids.data(), static_cast<int32_t>(ids.size()),
                   add_bos != 0);
    }
    if (n < 0) return fail(err, err_len, -4, "tokenize: the reference failed");
    *out_len = n;
    if (n > out_cap)
      return fail(err, err_len, -3,
                  "tokenize: buffer too small: " + std::to_string(n) + " tokens needed");
    if (n > 0) std::memcpy(out_tokens, ids.data(), static_cast<size_t>(n) * sizeof(int32_t));
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_prefill(void* handle, const int32_t* tokens, int32_t n_tokens,
                                         char* err, int32_t err_len) {
  return guarded(err, err_len, -4, "prefill", [&] {
    Session* s = registry().find(handle);
    if (s == nullptr) return fail(err, err_len, -1, kInvalidHandle);
    if (tokens == nullptr || n_tokens <= 0)
      return fail(err, err_len, -2, "prefill: tokens NULL or n_tokens <= 0");
    if (static_cast<int64_t>(s->n_past) + n_tokens > s->n_ctx)
      return fail(err, err_len, -3,
                  "prefill: would exceed the context of " + std::to_string(s->n_ctx));
    if (!tokens_in_vocab(*s, tokens, n_tokens))
      return fail(err, err_len, -4, "prefill: token id outside the vocab");
    const int rc = decode(*s, tokens, n_tokens, false);
    if (rc != 0)
      return fail(err, err_len, -4, "prefill: llama_decode returned " + std::to_string(rc));
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_eval_last(void* handle, const int32_t* tokens, int32_t n_tokens,
                                           float* logits, int32_t vocab, char* err,
                                           int32_t err_len) {
  return guarded(err, err_len, -4, "eval_last", [&] {
    Session* s = registry().find(handle);
    if (s == nullptr) return fail(err, err_len, -1, kInvalidHandle);
    if (tokens == nullptr || n_tokens <= 0 || logits == nullptr)
      return fail(err, err_len, -2, "eval_last: tokens/logits NULL or n_tokens <= 0");
    if (vocab != s->n_vocab)
      return fail(
          err, err_len, -3,
          "eval_last: vocab " + std::to_string(vocab) + " != " + std::to_string(s->n_vocab));
    if (static_cast<int64_t>(s->n_past) + n_tokens > s->n_ctx)
      return fail(err, err_len, -5,
                  "eval_last: KV cache overflow (context " + std::to_string(s->n_ctx) + ")");
    if (!tokens_in_vocab(*s, tokens, n_tokens))
      return fail(err, err_len, -4, "eval_last: token id outside the vocab");
    const int rc = decode(*s, tokens, n_tokens, false);
    if (rc != 0)
      return fail(err, err_len, -4, "eval_last: llama_decode returned " + std::to_string(rc));
    const float* row = llama_get_logits_ith(s->ctx, n_tokens - 1);
    if (row == nullptr) return fail(err, err_len, -4, "eval_last: no logits");
    std::memcpy(logits, row, static_cast<size_t>(vocab) * sizeof(float));
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_eval_all(void* handle, const int32_t* tokens, int32_t n_tokens,
                                          float* logits, int32_t rows_cap, int32_t* out_rows,
                                          int32_t* out_cols, char* err, int32_t err_len) {
  return guarded(err, err_len, -4, "eval_all", [&] {
    Session* s = registry().find(handle);
    if (s == nullptr) return fail(err, err_len, -1, kInvalidHandle);
    if (tokens == nullptr || n_tokens <= 0 || logits == nullptr || out_rows == nullptr ||
        out_cols == nullptr)
      return fail(err, err_len, -2, "eval_all: NULL argument or n_tokens <= 0");
    if (rows_cap < n_tokens) return fail(err, err_len, -3, "eval_all: rows_cap < n_tokens");
    if (n_tokens > s->n_ctx)
      return fail(err, err_len, -5, "eval_all: exceeds the context of " + std::to_string(s->n_ctx));
    if (!tokens_in_vocab(*s, tokens, n_tokens))
      return fail(err, err_len, -4, "eval_all: token id outside the vocab");
    clear_cache(s->ctx);
    s->n_past = 0;
    const int rc = decode(*s, tokens, n_tokens, true);
    if (rc != 0)
      return fail(err, err_len, -4, "eval_all: llama_decode returned " + std::to_string(rc));
    for (int32_t i = 0; i < n_tokens; ++i) {
      const float* row = llama_get_logits_ith(s->ctx, i);
      if (row == nullptr)
        return fail(err, err_len, -4, "eval_all: no logits for row " + std::to_string(i));
      std::memcpy(logits + static_cast<size_t>(i) * static_cast<size_t>(s->n_vocab), row,
                  static_cast<size_t>(s->n_vocab) * sizeof(float));
    }
    *out_rows = n_tokens;
    *out_cols = s->n_vocab;
    return 0;
  });
}

CROSSVAL_API int crossval_bitnet_vocab_size(void* handle, int32_t* out_vocab) {
  Session* s = registry().find(handle);
  if (s == nullptr || out_vocab == nullptr) return -1;
  *out_vocab = s->n_vocab;
  return 0;
}

CROSSVAL_API int crossval_bitnet_context_size(void* handle, int32_t* out_ctx) {
  Session* s = registry().find(handle);
  if (s == nullptr || out_ctx == nullptr) return -1;
  *out_ctx = s->n_ctx;
  return 0;
}

CROSSVAL_API int crossval_bitnet_reset(void* handle) {
  Session* s = registry().find(handle);
  if (s == nullptr) return -1;
  clear_cache(s->ctx);
  s->n_past = 0;
  return 0;
}

// "bitnet.cpp" when the loaded ggml has Microsoft's I2_S type (id 36, named "i2_s"), "llama.cpp"
// otherwise: upstream names that slot a removed type ("TYPE_IQ4_NL_4_4 REMOVED...") or has no such
// id. Asked of the library at run time, so it describes what was actually loaded.
CROSSVAL_API const char* crossval_reference_kind(void) {
  constexpr int kI2S = 36;  // GGML_TYPE_I2_S in bitnet.cpp's ggml.h
  if (static_cast<int>(GGML_TYPE_COUNT) <= kI2S) return "llama.cpp";  // older ggml: no bounds check
  const char* name = ggml_type_name(static_cast<ggml_type>(kI2S));
  return name != nullptr && std::strcmp(name, "i2_s") == 0 ? "bitnet.cpp" : "llama.cpp";
}

CROSSVAL_API int crossval_bitnet_n_past(void* handle, int32_t* out_n_past) {
  Session* s = registry().find(handle);
  if (s == nullptr || out_n_past == nullptr) return -1;
  *out_n_past = s->n_past;
  return 0;
}

}  // extern "C"
