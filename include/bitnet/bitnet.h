/*
 * bitnet.h — the C API of libbitnet, for applications (in the style of llama.h).
 *
 * Load a BitNet b1.58 GGUF model once (bitnet_model, immutable, shareable between threads), create
 * one bitnet_context per conversation or thread (KV cache + logits), then tokenize, evaluate,
 * sample or generate. Pure C99; link with -lbitnet (pkg-config bitnet, or CMake
 * find_package(bitnet) -> bitnet::bitnet).
 *
 * Conventions
 *  - Functions that can fail return a bitnet_status: BITNET_OK (0) or a negative code. The message
 *    of the last failure on the calling thread is bitnet_last_error() (thread-local).
 *  - No exception, abort or exit crosses this boundary; NULL handles are reported, not crashed on.
 *  - A bitnet_context is used by one thread at a time; a bitnet_model may be shared by contexts on
 *    many threads. Free every context of a model before the model.
 *  - Output buffers are (pointer, capacity); when too small the call fails with
 *    BITNET_ERR_BUFFER_TOO_SMALL and reports the size needed, so the caller can retry.
 *
 * For cross-validation (load once, evaluate many times, the same ABI over the reference
 * implementation) see crossval_session.h.
 */
#ifndef BITNET_BITNET_H
#define BITNET_BITNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BITNET_API __declspec(dllexport)
#else
#define BITNET_API __attribute__((visibility("default")))
#endif

typedef int32_t bitnet_token;
typedef struct bitnet_model bitnet_model;     /* opaque: a loaded model */
typedef struct bitnet_context bitnet_context; /* opaque: KV cache, scratch and logits */
typedef struct bitnet_sampler bitnet_sampler; /* opaque: sampling settings and random state */

typedef enum bitnet_status {
  BITNET_OK = 0,
  BITNET_ERR_INVALID_ARGUMENT = -1, /* NULL pointer, negative size, value out of range */
  BITNET_ERR_IO = -2,               /* file missing or unreadable */
  BITNET_ERR_MODEL = -3,            /* not a valid or supported model file */
  BITNET_ERR_TOKENIZER = -4,        /* bad vocabulary or text */
  BITNET_ERR_OUT_OF_MEMORY = -5,
  BITNET_ERR_CONTEXT_FULL = -6,     /* the tokens do not fit in the context (n_ctx) */
  BITNET_ERR_BUFFER_TOO_SMALL = -7, /* the needed size was reported; retry with a larger buffer */
  BITNET_ERR_DEVICE = -8,           /* CPU feature or device problem */
  BITNET_ERR_INTERNAL = -9          /* a bug: please report it with bitnet_last_error() */
} bitnet_status;

/* ---- library information ---------------------------------------------------------------- */

/* Version string, e.g. "0.1.0". Static storage. */
BITNET_API const char* bitnet_version(void);

/* One line describing the build: version, compiler, CPU features detected on this machine and
 * whether CUDA is compiled in. Static storage. */
BITNET_API const char* bitnet_build_info(void);

/* Space-separated CPU features of this machine that the kernels use, in /proc/cpuinfo's names
 * ("avx2 fma f16c avx512f ..." on x86, "asimd asimddp i8mm" on ARM; empty when none). Static
 * storage. */
BITNET_API const char* bitnet_cpu_features(void);

/* true when this library was built with the CUDA backend (-DBITNET_CUDA=ON, or AUTO with nvcc
 * found), whether or not this machine has a GPU. Its kernels exist; the layer loop that would run
 * transformer layers on the GPU does not yet, so layers run on the CPU and bitnet_model_n_gpu_layers
 * says so. */
BITNET_API bool bitnet_has_cuda(void);

/* A CUDA device as the runtime reports it. */
typedef struct bitnet_cuda_device {
  char name[256];        /* "NVIDIA H200" */
  int64_t total_bytes;   /* device memory */
  int64_t free_bytes;    /* free when the library first asked */
  int32_t compute_major; /* compute capability, e.g. 9.0 */
  int32_t compute_minor;
} bitnet_cuda_device;

/* The CUDA devices this library can use: 0 without the backend, without a driver, or without a
 * GPU (bitnet_build_info says why). */
BITNET_API int32_t bitnet_cuda_device_count(void);
/* Device `index` (0 <= index < bitnet_cuda_device_count()) into *out; BITNET_ERR_INVALID_ARGUMENT
 * for a NULL out or an index out of range. */
BITNET_API bitnet_status bitnet_cuda_device_info(int32_t index, bitnet_cuda_device* out);

/* The message of the last failed call on this thread ("" when none). Valid until the next failing
 * call on the same thread. */
BITNET_API const char* bitnet_last_error(void);

/* A short constant name for a status ("BITNET_ERR_IO"); "unknown" for other values. */
BITNET_API const char* bitnet_status_name(int32_t status);

/* ---- model --------------------------------------------------------------------------------- */

/* Called during loading with progress in [0, 1]. */
typedef void (*bitnet_progress_callback)(float progress, void* user_data);

/* The output head's format at run time (see HeadType in bitnet.hpp). STORED: as in the file, the
 * reference numerics. Q8_0 (8.5 bits per weight) and Q6_K (6.56) quantize the head once at load:
 * faster decoding, logits that differ slightly from the reference's. */
typedef enum bitnet_head_type {
  BITNET_HEAD_STORED = 0,
  BITNET_HEAD_Q8_0 = 1,
  BITNET_HEAD_Q6_K = 2
} bitnet_head_type;

typedef struct bitnet_model_params {
  int32_t n_gpu_layers;              /* layers to offload (-1 = all); 0 = BITNET_GPU_LAYERS if set
                                        (not a whole number: ignored with a warning; below -1: 0).
                                        What cannot be offloaded (no CUDA backend, no device, too
                                        little device memory) runs on the CPU, said once on stderr;
                                        bitnet_model_n_gpu_layers tells what runs on the GPU. */
  bitnet_progress_callback progress; /* may be NULL */
  void* progress_user_data;
  int32_t head_type; /* a bitnet_head_type; BITNET_HEAD_STORED by default */
} bitnet_model_params;

/* Defaults: no offload, no progress callback, the head as stored. */
BITNET_API bitnet_model_params bitnet_model_default_params(void);

/* Maps and validates a GGUF model (arch bitnet or bitnet-b1.58; I2_S, TQ1_0, TQ2_0 weights) and
 * its tokenizer. params may be NULL (defaults). On success *out_model owns the model; free it with
 * bitnet_model_free. Errors: INVALID_ARGUMENT (also for an unknown head_type), IO, MODEL,
 * TOKENIZER, OUT_OF_MEMORY. */
BITNET_API bitnet_status bitnet_model_load(const char* path, const bitnet_model_params* params,
                                           bitnet_model** out_model);

/* Frees a model (NULL is ignored). Its contexts must have been freed. */
BITNET_API void bitnet_model_free(bitnet_model* model);

/* Model facts; 0 (or NULL / -1 for ids) when model is NULL. */
BITNET_API int32_t bitnet_model_n_vocab(const bitnet_model* model);
BITNET_API int32_t bitnet_model_n_ctx_train(const bitnet_model* model);
BITNET_API int32_t bitnet_model_n_embd(const bitnet_model* model);
BITNET_API int32_t bitnet_model_n_layer(const bitnet_model* model);
BITNET_API int32_t bitnet_model_n_head(const bitnet_model* model);
BITNET_API int32_t bitnet_model_n_head_kv(const bitnet_model* model);
/* Layers that run on a GPU (0 when all run on the CPU; 0 for NULL) and the device they run on
 * ("" when none, NULL for NULL; valid while the model lives). */
BITNET_API int32_t bitnet_model_n_gpu_layers(const bitnet_model* model);
BITNET_API const char* bitnet_model_gpu_device(const bitnet_model* model);
/* general.architecture ("bitnet-b1.58"); valid while the model lives. */
BITNET_API const char* bitnet_model_arch(const bitnet_model* model);
/* Type name of the ternary weights ("I2_S", "TQ2_0", "TQ1_0"); valid while the model lives. */
BITNET_API const char* bitnet_model_weight_type(const bitnet_model* model);
/* Special token ids, -1 when the vocabulary has none. */
BITNET_API bitnet_token bitnet_model_token_bos(const bitnet_model* model);
BITNET_API bitnet_token bitnet_model_token_eos(const bitnet_model* model);
/* true for end-of-generation tokens (EOS, EOT, EOM). */
BITNET_API bool bitnet_model_token_is_eog(const bitnet_model* model, bitnet_token token);

/* ---- tokenizer ----------------------------------------------------------------------------- */

/* Text (NUL-terminated UTF-8; invalid bytes become U+FFFD) to token ids, with BOS first when
 * add_bos, special-token text ("<|eot_id|>") as one id when parse_special. Writes up to n_max ids
 * and *out_n = the number of ids; BUFFER_TOO_SMALL when n_max < *out_n (tokens may be NULL with
 * n_max 0 to ask for the size). Errors: INVALID_ARGUMENT, TOKENIZER, BUFFER_TOO_SMALL. */
BITNET_API bitnet_status bitnet_tokenize(const bitnet_model* model, const char* text, bool add_bos,
                                         bool parse_special, bitnet_token* tokens, int32_t n_max,
                                         int32_t* out_n);

/* Token ids to text, NUL-terminated in buf (capacity buf_size bytes, terminator included);
 * *out_len = the text length without the terminator. skip_special drops control tokens. The bytes
 * are exact (may be invalid UTF-8 when the ids split a character). BUFFER_TOO_SMALL when
 * buf_size <= *out_len. Errors: INVALID_ARGUMENT (also for an id outside the vocabulary). */
BITNET_API bitnet_status bitnet_detokenize(const bitnet_model* model, const bitnet_token* tokens,
                                           int32_t n_tokens, bool skip_special, char* buf,
                                           int32_t buf_size, int32_t* out_len);

/* ---- context ------------------------------------------------------------------------------- */

typedef enum bitnet_numerics {
  BITNET_NUMERICS_REFERENCE = 0, /* mirror the reference implementation's rounding exactly */
  BITNET_NUMERICS_FAST = 1       /* same math, results independent of batch splitting */
} bitnet_numerics;

typedef struct bitnet_context_params {
  int32_t n_ctx;     /* KV cache size in tokens; 0 = the model's training context. With several
                        sequences: the total, each holds n_ctx / n_seq_max positions */
  int32_t n_threads; /* threads for evaluation; 0 = all cores of this machine */
  int32_t numerics;  /* a bitnet_numerics value; BITNET_NUMERICS_REFERENCE by default */
  bool kv_f32;       /* F32 KV cache instead of F16 (the references use F16) */
  int32_t n_seq_max; /* independent sequences for bitnet_batch_decode (ids 0..n_seq_max-1); 1 */
} bitnet_context_params;

/* Defaults: n_ctx 0 (training context), n_threads 0 (all cores), reference numerics, F16 cache,
 * one sequence. */
BITNET_API bitnet_context_params bitnet_context_default_params(void);

/* Creates a context over model (which must outlive it). params may be NULL (defaults).
 * Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. */
BITNET_API bitnet_status bitnet_context_create(bitnet_model* model,
                                               const bitnet_context_params* params,
                                               bitnet_context** out_ctx);

/* Frees a context (NULL is ignored). */
BITNET_API void bitnet_context_free(bitnet_context* ctx);

/* Context facts; 0 when ctx is NULL. n_past = positions in the KV cache. */
BITNET_API int32_t bitnet_context_n_ctx(const bitnet_context* ctx);
BITNET_API int32_t bitnet_context_n_past(const bitnet_context* ctx);
BITNET_API int32_t bitnet_context_n_threads(const bitnet_context* ctx);

/* Sets the thread count (0 = all cores). Only while the KV cache is empty (a new context or after
 * bitnet_context_reset): the per-thread buffers are rebuilt. Errors: INVALID_ARGUMENT. */
BITNET_API bitnet_status bitnet_context_set_n_threads(bitnet_context* ctx, int32_t n_threads);

/* Empties the KV cache. */
BITNET_API bitnet_status bitnet_context_reset(bitnet_context* ctx);

/* Keeps the first n_past positions of the KV cache (0 <= n_past <= bitnet_context_n_past). */
BITNET_API bitnet_status bitnet_context_truncate(bitnet_context* ctx, int32_t n_past);

/* ---- evaluation ---------------------------------------------------------------------------- */

/* Appends n_tokens tokens at positions n_past.. in one batch and computes the logits of every new
 * position (all_logits) or only the last. Nothing changes on error. Errors: INVALID_ARGUMENT (also
 * a token id outside the vocabulary), CONTEXT_FULL, OUT_OF_MEMORY. */
BITNET_API bitnet_status bitnet_eval(bitnet_context* ctx, const bitnet_token* tokens,
                                     int32_t n_tokens, bool all_logits);

/* Rows of logits of the last bitnet_eval (n_tokens with all_logits, else 1; 0 before any). */
BITNET_API int32_t bitnet_n_logits_rows(const bitnet_context* ctx);

/* Row i of the last evaluation's logits (n_vocab floats; i = -1 is the last row), or NULL (with
 * bitnet_last_error) when i is out of range. Valid until the next eval on this context. */
BITNET_API const float* bitnet_get_logits(const bitnet_context* ctx, int32_t i);

/* ---- batches of several sequences ---------------------------------------------------------- */
/* A batch holds tokens of independent sequences (each: token, position, sequence id, whether to
 * compute its logits), like llama_batch; bitnet_batch_decode evaluates all of them in one forward
 * pass, reading each weight matrix once. Attention stays within each sequence, whose positions
 * must continue it: the first token of sequence s in a batch has position
 * bitnet_kv_seq_n_past(ctx, s), the next one +1, and so on. With BITNET_NUMERICS_FAST a
 * sequence's logits are bit-identical whether it is decoded alone or with others (any order, any
 * thread count); reference numerics depend on the batch's size, as the reference's do.
 * bitnet_eval on such a context uses sequence 0. */

typedef struct bitnet_batch bitnet_batch; /* opaque: up to n_tokens_max tokens */

/* A batch for up to n_tokens_max tokens, or NULL (bitnet_last_error) for n_tokens_max < 1. */
BITNET_API bitnet_batch* bitnet_batch_init(int32_t n_tokens_max);
/* Frees a batch (NULL is ignored). */
BITNET_API void bitnet_batch_free(bitnet_batch* batch);
/* Empties the batch (capacity kept). */
BITNET_API void bitnet_batch_clear(bitnet_batch* batch);
/* Tokens in the batch; 0 for NULL. */
BITNET_API int32_t bitnet_batch_n_tokens(const bitnet_batch* batch);
/* Appends one token (the argument order of llama.cpp's common_batch_add). Errors:
 * INVALID_ARGUMENT (NULL, pos or seq_id < 0), CONTEXT_FULL (the batch holds n_tokens_max). */
BITNET_API bitnet_status bitnet_batch_add(bitnet_batch* batch, bitnet_token token, int32_t pos,
                                          int32_t seq_id, bool logits);

/* Evaluates the batch. Nothing changes on error. Errors: INVALID_ARGUMENT (empty batch, token id
 * outside the vocabulary, seq_id >= n_seq_max, a position that does not continue its sequence:
 * the message names the batch index), CONTEXT_FULL (a sequence would exceed its n_ctx share),
 * OUT_OF_MEMORY. */
BITNET_API bitnet_status bitnet_batch_decode(bitnet_context* ctx, const bitnet_batch* batch);

/* The logits (n_vocab floats) of token i of the last decoded batch, which must have had logits
 * set (as llama_get_logits_ith); i = -1 is the last such token. NULL (bitnet_last_error)
 * otherwise. Valid until the next evaluation on this context. */
BITNET_API const float* bitnet_batch_get_logits(const bitnet_context* ctx, int32_t i);

/* Sequences of the context (n_seq_max) and the positions each can hold (n_ctx / n_seq_max);
 * 0 for NULL. */
BITNET_API int32_t bitnet_context_n_seq_max(const bitnet_context* ctx);
BITNET_API int32_t bitnet_context_n_ctx_seq(const bitnet_context* ctx);
/* Positions of sequence seq_id in the KV cache, or -1 (bitnet_last_error) for a bad id/NULL. */
BITNET_API int32_t bitnet_kv_seq_n_past(const bitnet_context* ctx, int32_t seq_id);
/* Keeps the first n_past positions of sequence seq_id (0 empties it). Errors: INVALID_ARGUMENT. */
BITNET_API bitnet_status bitnet_kv_seq_truncate(bitnet_context* ctx, int32_t seq_id,
                                                int32_t n_past);

/* ---- sampling ------------------------------------------------------------------------------ */

typedef struct bitnet_sampler_params {
  float temperature; /* 0 = greedy (arg-max, first on ties) */
  int32_t top_k;     /* keep the k most likely; 0 = off */
  float top_p;       /* keep the smallest set with probability >= top_p; 1 = off */
  uint32_t seed;     /* same seed + same logits = same choice; 0xFFFFFFFF draws a seed */
} bitnet_sampler_params;

/* Defaults: temperature 0.8, top-k 40, top-p 0.95, seed 42. */
BITNET_API bitnet_sampler_params bitnet_sampler_default_params(void);

/* Creates a sampler (params NULL = defaults). Errors: INVALID_ARGUMENT (temperature < 0,
 * top_k < 0, top_p outside (0, 1]), OUT_OF_MEMORY. */
BITNET_API bitnet_status bitnet_sampler_create(const bitnet_sampler_params* params,
                                               bitnet_sampler** out_sampler);

/* Frees a sampler (NULL is ignored). */
BITNET_API void bitnet_sampler_free(bitnet_sampler* sampler);

/* Picks a token from a row of n_vocab logits: top-k, then top-p, then temperature, then a seeded
 * draw (arg-max when the temperature is 0) -- the sampler of the CLI and the C++ API, with min-p
 * and the repetition penalty off. Errors: INVALID_ARGUMENT. */
BITNET_API bitnet_status bitnet_sampler_sample(bitnet_sampler* sampler, const float* logits,
                                               int32_t n_vocab, bitnet_token* out_token);

/* ---- generation ---------------------------------------------------------------------------- */

/* Called for each generated token with its text (complete UTF-8 characters only, so piece_len may
 * be 0; not NUL-terminated). Return false to stop the generation (finish reason CANCELLED). */
typedef bool (*bitnet_token_callback)(bitnet_token token, const char* piece, int32_t piece_len,
                                      void* user_data);

/* Streaming logits: called for each generated token (end-of-generation tokens too) with the
 * logits row it was sampled from: n_vocab floats, valid only during the call. The first call's row
 * is the prompt's last position; they equal bitnet_eval's rows for the same tokens. */
typedef void (*bitnet_logits_callback)(bitnet_token token, const float* logits, int32_t n_vocab,
                                       void* user_data);

typedef enum bitnet_finish_reason {
  BITNET_FINISH_LENGTH = 0,    /* max_new_tokens generated */
  BITNET_FINISH_EOG = 1,       /* the model produced an end-of-generation token (not emitted) */
  BITNET_FINISH_CANCELLED = 2, /* the callback returned false */
  BITNET_FINISH_CONTEXT_FULL = 3
} bitnet_finish_reason;

typedef struct bitnet_generate_params {
  int32_t max_new_tokens;         /* > 0 */
  bitnet_sampler_params sampling; /* temperature 0 = greedy */
  bool add_bos;                   /* prepend BOS to the prompt */
  bool parse_special;             /* special-token text in the prompt becomes its id */
  bool skip_special;              /* special tokens print as nothing in the callback's pieces */
  bitnet_token_callback on_token; /* may be NULL */
  void* user_data;
  bitnet_logits_callback on_logits; /* may be NULL */
  void* logits_user_data;
} bitnet_generate_params;

typedef struct bitnet_generate_result {
  int32_t n_prompt_tokens;
  int32_t n_generated; /* tokens produced (and passed to the callback) */
  bitnet_finish_reason finish_reason;
} bitnet_generate_result;

/* Defaults: 128 tokens, default sampling, add_bos and parse_special true, skip_special true, no
 * callbacks. */
BITNET_API bitnet_generate_params bitnet_generate_default_params(void);

/* Empties the KV cache, evaluates the prompt in one batch, then samples and evaluates one token at
 * a time, streaming each to params->on_token, until max_new_tokens, an end-of-generation token, a
 * full context or a cancel. out_result may be NULL. Errors: INVALID_ARGUMENT, TOKENIZER,
 * CONTEXT_FULL (the prompt itself does not fit), OUT_OF_MEMORY. */
BITNET_API bitnet_status bitnet_generate(bitnet_context* ctx, const char* prompt,
                                         const bitnet_generate_params* params,
                                         bitnet_generate_result* out_result);

#ifdef __cplusplus
}
#endif

#endif /* BITNET_BITNET_H */
