/*
 * crossval_session.h — the session ABI for cross-validation.
 *
 * Load a model once, then tokenize, prefill and evaluate many times without reloading. Implemented
 * twice with the same signatures: by libbitnet.so (our engine) and by libbitnet_reference.so (the
 * reference llama.h: Microsoft bitnet.cpp or upstream llama.cpp), so both sides of a comparison speak
 * the same ABI. Pure C (C99), usable through dlopen/ctypes.
 *
 * Conventions
 *  - Every function returns 0 on success or a negative error code listed at the function.
 *  - On error, a NUL-terminated message is written to `err` when err != NULL and err_len > 0
 *    (truncated to err_len - 1 bytes).
 *  - No exception, abort or exit ever crosses this boundary.
 *  - A handle that is NULL, closed, or was never returned by open gives -1 (a registry of live
 *    handles is kept; use-after-close is detected, not undefined).
 *  - One session per thread at a time; crossval_bitnet_open may be called concurrently.
 *  - Logits are float32, row-major [rows][n_vocab].
 */
#ifndef BITNET_CROSSVAL_SESSION_H
#define BITNET_CROSSVAL_SESSION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define CROSSVAL_API __declspec(dllexport)
#else
#define CROSSVAL_API __attribute__((visibility("default")))
#endif

/* Opens a model with a context of n_ctx tokens.
 * -1 file not found, -2 invalid model format, -3 out of memory,
 * -4 invalid parameters (out_handle NULL, model_path NULL, n_ctx <= 0). */
CROSSVAL_API int crossval_bitnet_open(const char* model_path, int32_t n_ctx, void** out_handle, char* err,
                                      int32_t err_len);

/* As crossval_bitnet_open, with the number of layers to offload to a GPU (-1 = all, 0 = use the
 * BITNET_GPU_LAYERS environment variable if set) and the thread count (<= 0 = default). Without a GPU
 * the session opens on the CPU and says so on stderr; it never fails for lack of a GPU. */
CROSSVAL_API int crossval_bitnet_open_ex(const char* model_path, int32_t n_ctx, int32_t n_gpu_layers,
                                         int32_t n_threads, void** out_handle, char* err, int32_t err_len);

/* Frees the session. -1 invalid handle (NULL or already closed), -2 cleanup failed. */
CROSSVAL_API int crossval_bitnet_close(void* handle);

/* Tokenizes a prompt the way llama-cli does (special tokens parsed), with BOS when add_bos != 0.
 * -1 invalid handle, -2 prompt or out_len NULL (or out_tokens NULL with out_cap > 0, or out_cap < 0),
 * -3 buffer too small (*out_len = the count needed, so the caller can retry; out_tokens may be NULL
 * with out_cap 0 to ask for the count), -4 tokenization failed. */
CROSSVAL_API int crossval_bitnet_tokenize_with(void* handle, const char* prompt, int add_bos, int32_t* out_tokens,
                                               int32_t out_cap, int32_t* out_len, char* err, int32_t err_len);

/* Appends tokens to the KV cache (no logits). -1 invalid handle, -2 tokens NULL or n_tokens <= 0,
 * -3 would exceed the context, -4 evaluation failed. */
CROSSVAL_API int crossval_bitnet_prefill(void* handle, const int32_t* tokens, int32_t n_tokens, char* err,
                                         int32_t err_len);

/* Appends tokens and writes the last position's logits (vocab floats). -1 invalid handle,
 * -2 tokens NULL / n_tokens <= 0 / logits NULL, -3 vocab != the model's vocabulary size,
 * -4 evaluation failed, -5 KV cache overflow. */
CROSSVAL_API int crossval_bitnet_eval_last(void* handle, const int32_t* tokens, int32_t n_tokens, float* logits,
                                           int32_t vocab, char* err, int32_t err_len);

/* Clears the KV cache, evaluates tokens in one batch and writes every position's logits,
 * row-major [n_tokens][vocab]; *out_rows = n_tokens, *out_cols = vocab. -1 invalid handle,
 * -2 tokens/logits/out_rows/out_cols NULL or n_tokens <= 0, -3 rows_cap < n_tokens,
 * -4 evaluation failed, -5 exceeds the context. */
CROSSVAL_API int crossval_bitnet_eval_all(void* handle, const int32_t* tokens, int32_t n_tokens, float* logits,
                                          int32_t rows_cap, int32_t* out_rows, int32_t* out_cols, char* err,
                                          int32_t err_len);

/* -1 invalid handle (or NULL output pointer). */
CROSSVAL_API int crossval_bitnet_vocab_size(void* handle, int32_t* out_vocab);
CROSSVAL_API int crossval_bitnet_context_size(void* handle, int32_t* out_ctx);

/* Extensions: clear the KV cache; number of positions in the KV cache. -1 invalid handle. */
CROSSVAL_API int crossval_bitnet_reset(void* handle);
CROSSVAL_API int crossval_bitnet_n_past(void* handle, int32_t* out_n_past);

#ifdef __cplusplus
}
#endif

#endif /* BITNET_CROSSVAL_SESSION_H */
