/*
 * C99 test of the C API (bitnet.h) and the session ABI (crossval_session.h): every function and
 * every error code, the err buffer rules, use after close, context overflow, and 8 threads opening
 * and running their own sessions at once. Built with -std=c99 -Wall -Werror and run by ctest
 * (also under ASan + UBSan).
 *
 * Usage: bitnet_capi_test MODEL.gguf SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitnet/bitnet.h"
#include "bitnet/crossval_session.h"

static int g_checks = 0;
static int g_failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    ++g_checks;                                                                \
    if (!(cond)) {                                                             \
      ++g_failures;                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_EQ(a, b)                                                                          \
  do {                                                                                          \
    long long va_ = (long long)(a), vb_ = (long long)(b);                                       \
    ++g_checks;                                                                                 \
    if (va_ != vb_) {                                                                           \
      ++g_failures;                                                                             \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n", __FILE__, __LINE__, #a, \
              va_, #b, vb_);                                                                    \
    }                                                                                           \
  } while (0)

static const char* g_model;
static const char* g_scratch;
static const char* kPrompt = "The quick brown fox jumps over the lazy dog.";

static double cosine(const float* a, const float* b, int32_t n) {
  double ab = 0, aa = 0, bb = 0;
  int32_t i;
  for (i = 0; i < n; ++i) {
    ab += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
    bb += (double)b[i] * b[i];
  }
  return ab / sqrt(aa * bb);
}

static int32_t argmax(const float* x, int32_t n) {
  int32_t best = 0, i;
  for (i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

/* ---- session ABI: open ------------------------------------------------------------------- */

static void test_open_errors(void) {
  char err[256];
  void* h = (void*)0x1;
  char bad_path[512];
  FILE* f;

  CHECK_EQ(crossval_bitnet_open(g_model, 64, NULL, err, sizeof err), -4);
  CHECK(strlen(err) > 0);
  CHECK_EQ(crossval_bitnet_open(NULL, 64, &h, err, sizeof err), -4);
  CHECK(h == NULL);
  CHECK_EQ(crossval_bitnet_open(g_model, 0, &h, err, sizeof err), -4);
  CHECK_EQ(crossval_bitnet_open(g_model, -5, &h, err, sizeof err), -4);
  CHECK_EQ(crossval_bitnet_open_ex(g_model, 64, -2, 1, &h, err, sizeof err), -4);
  CHECK_EQ(crossval_bitnet_open("/nonexistent/model.gguf", 64, &h, err, sizeof err), -1);
  CHECK(strstr(err, "not found") != NULL);

  snprintf(bad_path, sizeof bad_path, "%s/not_a_model.gguf", g_scratch);
  f = fopen(bad_path, "wb");
  CHECK(f != NULL);
  if (f) {
    fputs("this is not a GGUF file, just some bytes to read", f);
    fclose(f);
  }
  CHECK_EQ(crossval_bitnet_open(bad_path, 64, &h, err, sizeof err), -2);
  CHECK(h == NULL);
  remove(bad_path);

  /* A KV cache far beyond memory: -3, not a crash. (Not under ASan: its throwing operator new
   * aborts on a failed allocation instead of throwing std::bad_alloc.) */
#if !defined(__SANITIZE_ADDRESS__)
  CHECK_EQ(crossval_bitnet_open(g_model, INT32_MAX, &h, err, sizeof err), -3);
  CHECK(h == NULL);
#endif
}

static void test_err_buffer(void) {
  char err[64];
  void* h = NULL;
  /* err = NULL and err_len = 0: the code alone, nothing written. */
  CHECK_EQ(crossval_bitnet_open("/nonexistent/model.gguf", 64, &h, NULL, 0), -1);
  CHECK_EQ(crossval_bitnet_open("/nonexistent/model.gguf", 64, &h, NULL, 100), -1);
  memset(err, 'x', sizeof err);
  CHECK_EQ(crossval_bitnet_open("/nonexistent/model.gguf", 64, &h, err, 0), -1);
  CHECK(err[0] == 'x');
  /* err_len = 1: only the terminator fits. */
  CHECK_EQ(crossval_bitnet_open("/nonexistent/model.gguf", 64, &h, err, 1), -1);
  CHECK(err[0] == '\0' && err[1] == 'x');
  /* Truncated to err_len - 1 bytes, NUL-terminated, nothing written past it. */
  memset(err, 'x', sizeof err);
  CHECK_EQ(crossval_bitnet_open("/nonexistent/model.gguf", 64, &h, err, 8), -1);
  CHECK_EQ(strlen(err), 7);
  CHECK(err[8] == 'x');
  CHECK_EQ(crossval_bitnet_open("/nonexistent/model.gguf", 64, &h, err, -3), -1);
}

/* ---- session ABI: a live session ---------------------------------------------------------- */

static void test_invalid_handles(void* closed) {
  int local = 0;
  void* never = &local;
  void* handles[3];
  int i;
  char err[128];
  int32_t toks[4] = {1, 2, 3, 4}, n = 0, v = 0, rows = 0, cols = 0;
  float logits[4];
  handles[0] = NULL;
  handles[1] = closed;
  handles[2] = never;
  for (i = 0; i < 3; ++i) {
    void* h = handles[i];
    CHECK_EQ(crossval_bitnet_close(h), -1);
    CHECK_EQ(crossval_bitnet_tokenize_with(h, "hi", 1, toks, 4, &n, err, sizeof err), -1);
    CHECK(strstr(err, "invalid session handle") != NULL);
    CHECK_EQ(crossval_bitnet_prefill(h, toks, 2, err, sizeof err), -1);
    CHECK_EQ(crossval_bitnet_eval_last(h, toks, 1, logits, 4, err, sizeof err), -1);
    CHECK_EQ(crossval_bitnet_eval_all(h, toks, 1, logits, 1, &rows, &cols, err, sizeof err), -1);
    CHECK_EQ(crossval_bitnet_vocab_size(h, &v), -1);
    CHECK_EQ(crossval_bitnet_context_size(h, &v), -1);
    CHECK_EQ(crossval_bitnet_reset(h), -1);
    CHECK_EQ(crossval_bitnet_n_past(h, &v), -1);
  }
}

static void test_session(void) {
  enum { kCtx = 24 };
  char err[256];
  void* h = NULL;
  int32_t vocab = 0, n_ctx = 0, n_past = -1, n = 0, need = 0, rows = 0, cols = 0, i;
  int32_t tokens[64];
  float *logits, *all, *again;

  CHECK_EQ(crossval_bitnet_open(g_model, kCtx, &h, err, sizeof err), 0);
  CHECK(h != NULL);
  if (h == NULL) return;
  CHECK_EQ(crossval_bitnet_vocab_size(h, &vocab), 0);
  CHECK(vocab > 0);
  CHECK_EQ(crossval_bitnet_context_size(h, &n_ctx), 0);
  CHECK_EQ(n_ctx, kCtx);
  CHECK_EQ(crossval_bitnet_vocab_size(h, NULL), -1);
  CHECK_EQ(crossval_bitnet_context_size(h, NULL), -1);
  CHECK_EQ(crossval_bitnet_n_past(h, NULL), -1);
  CHECK_EQ(crossval_bitnet_n_past(h, &n_past), 0);
  CHECK_EQ(n_past, 0);

  /* tokenize: size query, exactly one too small, exact fit, errors */
  CHECK_EQ(crossval_bitnet_tokenize_with(h, kPrompt, 1, NULL, 0, &need, err, sizeof err), -3);
  CHECK(need > 2);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, kPrompt, 1, tokens, need - 1, &n, err, sizeof err), -3);
  CHECK_EQ(n, need);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, kPrompt, 1, tokens, need, &n, err, sizeof err), 0);
  CHECK_EQ(n, need);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, kPrompt, 0, tokens, need, &n, err, sizeof err), 0);
  CHECK_EQ(n, need - 1);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, kPrompt, 1, tokens, need, &n, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, NULL, 1, tokens, need, &n, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, kPrompt, 1, tokens, need, NULL, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, kPrompt, 1, NULL, 5, &n, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, "", 0, NULL, 0, &n, err, sizeof err), 0);
  CHECK_EQ(n, 0);
  /* Invalid UTF-8 is replaced, not a failure; -4 has no reachable cause for a loaded vocabulary. */
  CHECK_EQ(crossval_bitnet_tokenize_with(h, "\xff\xfe ok", 0, tokens, kCtx, &n, err, sizeof err),
           0);
  CHECK_EQ(crossval_bitnet_tokenize_with(h, kPrompt, 1, tokens, need, &n, err, sizeof err), 0);

  logits = (float*)malloc(sizeof(float) * (size_t)vocab);
  all = (float*)malloc(sizeof(float) * (size_t)vocab * (size_t)(kCtx + 1));
  again = (float*)malloc(sizeof(float) * (size_t)vocab * (size_t)(kCtx + 1));
  CHECK(logits && all && again);
  if (!logits || !all || !again) goto out;

  /* prefill */
  CHECK_EQ(crossval_bitnet_prefill(h, NULL, 3, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_prefill(h, tokens, 0, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_prefill(h, tokens, -1, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_prefill(h, tokens, kCtx + 1, err, sizeof err), -3);
  CHECK_EQ(crossval_bitnet_prefill(h, tokens, n - 1, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_n_past(h, &n_past), 0);
  CHECK_EQ(n_past, n - 1);
  /* context overflow in prefill: nothing changes */
  for (i = 0; i < kCtx; ++i) tokens[n + i] = tokens[1 + i % (n - 1)];
  CHECK_EQ(crossval_bitnet_prefill(h, tokens, kCtx - n_past + 1, err, sizeof err), -3);
  CHECK(strstr(err, "context") != NULL);
  CHECK_EQ(crossval_bitnet_n_past(h, &n_past), 0);
  CHECK_EQ(n_past, n - 1);
  /* a token outside the vocabulary: -4 */
  {
    int32_t bad = vocab + 7;
    CHECK_EQ(crossval_bitnet_prefill(h, &bad, 1, err, sizeof err), -4);
  }

  /* eval_last */
  CHECK_EQ(crossval_bitnet_eval_last(h, NULL, 1, logits, vocab, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_eval_last(h, tokens, 0, logits, vocab, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_eval_last(h, tokens, 1, NULL, vocab, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_eval_last(h, tokens, 1, logits, vocab - 1, err, sizeof err), -3);
  {
    int32_t bad = -1;
    CHECK_EQ(crossval_bitnet_eval_last(h, &bad, 1, logits, vocab, err, sizeof err), -4);
  }
  CHECK_EQ(crossval_bitnet_eval_last(h, tokens + n - 1, 1, logits, vocab, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_n_past(h, &n_past), 0);
  CHECK_EQ(n_past, n);
  /* KV cache overflow in eval_last */
  CHECK_EQ(crossval_bitnet_eval_last(h, tokens, kCtx - n + 1, logits, vocab, err, sizeof err), -5);
  CHECK_EQ(crossval_bitnet_eval_last(h, tokens, kCtx - n, logits, vocab, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_eval_last(h, tokens, 1, logits, vocab, err, sizeof err), -5);

  /* eval_all after prefill: the cache is cleared first, so it equals a fresh batch */
  CHECK_EQ(crossval_bitnet_eval_all(h, NULL, n, all, n, &rows, &cols, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_eval_all(h, tokens, 0, all, n, &rows, &cols, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_eval_all(h, tokens, n, NULL, n, &rows, &cols, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_eval_all(h, tokens, n, all, n, NULL, &cols, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_eval_all(h, tokens, n, all, n, &rows, NULL, err, sizeof err), -2);
  CHECK_EQ(crossval_bitnet_eval_all(h, tokens, n, all, n - 1, &rows, &cols, err, sizeof err), -3);
  CHECK_EQ(
      crossval_bitnet_eval_all(h, tokens, kCtx + 1, all, kCtx + 1, &rows, &cols, err, sizeof err),
      -5);
  {
    int32_t bad[2] = {1, vocab};
    CHECK_EQ(crossval_bitnet_eval_all(h, bad, 2, all, 2, &rows, &cols, err, sizeof err), -4);
  }
  CHECK_EQ(crossval_bitnet_eval_all(h, tokens, n, all, n, &rows, &cols, err, sizeof err), 0);
  CHECK_EQ(rows, n);
  CHECK_EQ(cols, vocab);
  CHECK_EQ(crossval_bitnet_n_past(h, &n_past), 0);
  CHECK_EQ(n_past, n);
  CHECK_EQ(crossval_bitnet_prefill(h, tokens, 5, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_eval_all(h, tokens, n, again, n, &rows, &cols, err, sizeof err), 0);
  CHECK(memcmp(all, again, sizeof(float) * (size_t)vocab * (size_t)n) == 0);
  CHECK_EQ(crossval_bitnet_n_past(h, &n_past), 0);
  CHECK_EQ(n_past, n);

  /* reset, then prefill + eval_last agrees with the batch's last row */
  CHECK_EQ(crossval_bitnet_reset(h), 0);
  CHECK_EQ(crossval_bitnet_n_past(h, &n_past), 0);
  CHECK_EQ(n_past, 0);
  CHECK_EQ(crossval_bitnet_prefill(h, tokens, n - 1, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_eval_last(h, tokens + n - 1, 1, logits, vocab, err, sizeof err), 0);
  {
    const double c = cosine(logits, all + (size_t)(n - 1) * (size_t)vocab, vocab);
    printf("prefill(%d) + eval_last vs eval_all, last row: cosine %.7f\n", (int)(n - 1), c);
    CHECK(c >= 0.999);
  }

out:
  free(logits);
  free(all);
  free(again);
  CHECK_EQ(crossval_bitnet_close(h), 0);
  CHECK_EQ(crossval_bitnet_close(h), -1); /* double close */
  test_invalid_handles(h);
}

/* GPU layers: never a failure without a GPU; bad environment values are ignored. */
static void test_gpu_layers(void) {
  char err[256];
  void* h = NULL;
  CHECK_EQ(crossval_bitnet_open_ex(g_model, 16, 2, 1, &h, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_close(h), 0);
  CHECK_EQ(crossval_bitnet_open_ex(g_model, 16, -1, 0, &h, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_close(h), 0);
  {
    /* The model API: all layers asked for, none offloaded, no device named. */
    bitnet_model* model = NULL;
    bitnet_model_params mp = bitnet_model_default_params();
    mp.n_gpu_layers = -1;
    CHECK_EQ(bitnet_model_load(g_model, &mp, &model), BITNET_OK);
    CHECK_EQ(bitnet_model_n_gpu_layers(model), 0);
    CHECK(model != NULL && strcmp(bitnet_model_gpu_device(model), "") == 0);
    bitnet_model_free(model);
    CHECK_EQ(bitnet_model_n_gpu_layers(NULL), 0);
    CHECK(bitnet_model_gpu_device(NULL) == NULL);
  }
  setenv("BITNET_GPU_LAYERS", "lots", 1);
  CHECK_EQ(crossval_bitnet_open(g_model, 16, &h, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_close(h), 0);
  setenv("BITNET_GPU_LAYERS", "-1", 1);
  CHECK_EQ(crossval_bitnet_open(g_model, 16, &h, err, sizeof err), 0);
  CHECK_EQ(crossval_bitnet_close(h), 0);
  unsetenv("BITNET_GPU_LAYERS");
}

/* ---- concurrent open: 8 threads, each with its own session ------------------------------ */

enum { kThreads = 8 };

typedef struct {
  int rc_open, rc_tok, rc_all, rc_last, rc_close;
  int32_t n_tokens, argmax_last;
  float first_logit;
} ThreadResult;

static void* session_thread(void* arg) {
  ThreadResult* r = (ThreadResult*)arg;
  char err[256];
  void* h = NULL;
  int32_t tokens[64], n = 0, vocab = 0, rows = 0, cols = 0;
  float* logits = NULL;
  r->rc_open = crossval_bitnet_open_ex(g_model, 64, 0, 1, &h, err, sizeof err);
  if (r->rc_open != 0) return NULL;
  r->rc_tok = crossval_bitnet_tokenize_with(h, kPrompt, 1, tokens, 64, &n, err, sizeof err);
  crossval_bitnet_vocab_size(h, &vocab);
  logits = (float*)malloc(sizeof(float) * (size_t)vocab * (size_t)(n > 0 ? n : 1));
  if (logits != NULL && r->rc_tok == 0) {
    r->rc_all = crossval_bitnet_eval_all(h, tokens, n, logits, n, &rows, &cols, err, sizeof err);
    r->rc_last = crossval_bitnet_eval_last(h, tokens, 1, logits, vocab, err, sizeof err);
    r->n_tokens = n;
    r->argmax_last = argmax(logits, vocab);
    r->first_logit = logits[0];
  }
  free(logits);
  r->rc_close = crossval_bitnet_close(h);
  return NULL;
}

static void test_concurrent_open(void) {
  pthread_t threads[kThreads];
  ThreadResult results[kThreads];
  int i;
  memset(results, 0, sizeof results);
  for (i = 0; i < kThreads; ++i)
    CHECK_EQ(pthread_create(&threads[i], NULL, session_thread, &results[i]), 0);
  for (i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);
  for (i = 0; i < kThreads; ++i) {
    CHECK_EQ(results[i].rc_open, 0);
    CHECK_EQ(results[i].rc_tok, 0);
    CHECK_EQ(results[i].rc_all, 0);
    CHECK_EQ(results[i].rc_last, 0);
    CHECK_EQ(results[i].rc_close, 0);
    CHECK_EQ(results[i].n_tokens, results[0].n_tokens);
    CHECK_EQ(results[i].argmax_last, results[0].argmax_last);
    CHECK(results[i].first_logit == results[0].first_logit); /* same work, same bits */
  }
}

/* ---- general C API (bitnet.h) ------------------------------------------------------------ */

typedef struct {
  int calls;
  int cancel_after;
  bitnet_token tokens[64];
} StreamState;

static bool on_token(bitnet_token token, const char* piece, int32_t piece_len, void* user_data) {
  StreamState* s = (StreamState*)user_data;
  (void)piece;
  if (piece_len < 0) return false;
  if (s->calls < 64) s->tokens[s->calls] = token;
  ++s->calls;
  return s->cancel_after == 0 || s->calls < s->cancel_after;
}

static void on_progress(float progress, void* user_data) {
  float* last = (float*)user_data;
  if (progress >= *last) *last = progress;
}

static void test_info(void) {
  CHECK(bitnet_version() != NULL && strlen(bitnet_version()) > 0);
  CHECK(bitnet_cpu_features() != NULL);
  /* The build info says whether the CUDA backend is in, as bitnet_has_cuda() does. */
  CHECK(bitnet_has_cuda() == (strstr(bitnet_build_info(), "cuda: yes") != NULL));
  CHECK(bitnet_has_cuda() || strstr(bitnet_build_info(), "cuda: no") != NULL);
  CHECK(bitnet_has_cuda() || bitnet_cuda_device_count() == 0);
  {
    bitnet_cuda_device dev;
    const int32_t n = bitnet_cuda_device_count();
    CHECK(n >= 0);
    CHECK_EQ(bitnet_cuda_device_info(0, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_last_error(), "out is NULL") != NULL);
    CHECK_EQ(bitnet_cuda_device_info(-1, &dev), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ(bitnet_cuda_device_info(n, &dev), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_last_error(), "out of range") != NULL);
    if (n > 0) {
      CHECK_EQ(bitnet_cuda_device_info(0, &dev), BITNET_OK);
      CHECK(strlen(dev.name) > 0 && dev.total_bytes > 0 && dev.compute_major > 0);
    }
  }
  CHECK(strcmp(bitnet_status_name(BITNET_ERR_CONTEXT_FULL), "BITNET_ERR_CONTEXT_FULL") == 0);
  CHECK(strcmp(bitnet_status_name(42), "unknown") == 0);
  printf("%s\n", bitnet_build_info());
}

static void test_general_api(void) {
  bitnet_model* model = NULL;
  bitnet_context* ctx = NULL;
  bitnet_sampler* sampler = NULL;
  bitnet_model_params mp = bitnet_model_default_params();
  bitnet_context_params cp = bitnet_context_default_params();
  bitnet_sampler_params sp = bitnet_sampler_default_params();
  bitnet_generate_params gp = bitnet_generate_default_params();
  bitnet_generate_result result;
  StreamState stream;
  bitnet_token tokens[64], tok = -1, greedy_first = -1;
  int32_t n = 0, need = 0, len = 0, vocab, i;
  char text[256];
  float progress = -1.0f;
  const float* row;

  /* load: errors */
  CHECK_EQ(bitnet_model_load(g_model, NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_model_load(NULL, NULL, &model), BITNET_ERR_INVALID_ARGUMENT);
  CHECK(strlen(bitnet_last_error()) > 0);
  CHECK_EQ(bitnet_model_load("/nonexistent.gguf", NULL, &model), BITNET_ERR_IO);
  CHECK(strstr(bitnet_last_error(), "nonexistent") != NULL);
  mp.n_gpu_layers = -7;
  CHECK_EQ(bitnet_model_load(g_model, &mp, &model), BITNET_ERR_INVALID_ARGUMENT);
  mp = bitnet_model_default_params();
  mp.progress = on_progress;
  mp.progress_user_data = &progress;
  CHECK_EQ(bitnet_model_load(g_model, &mp, &model), BITNET_OK);
  if (model == NULL) return;

  /* info */
  vocab = bitnet_model_n_vocab(model);
  CHECK(vocab > 0);
  CHECK(bitnet_model_n_ctx_train(model) > 0);
  CHECK(bitnet_model_n_embd(model) > 0);
  CHECK(bitnet_model_n_layer(model) > 0);
  CHECK(bitnet_model_n_head(model) >= bitnet_model_n_head_kv(model));
  CHECK(bitnet_model_n_head_kv(model) > 0);
  CHECK(strncmp(bitnet_model_arch(model), "bitnet", 6) == 0);
  CHECK(strlen(bitnet_model_weight_type(model)) > 0);
  CHECK(bitnet_model_token_bos(model) >= 0);
  CHECK(bitnet_model_token_is_eog(model, bitnet_model_token_eos(model)));
  CHECK(!bitnet_model_token_is_eog(model, bitnet_model_token_bos(model)));
  CHECK(!bitnet_model_token_is_eog(model, -3));
  CHECK_EQ(bitnet_model_n_vocab(NULL), 0);
  CHECK(bitnet_model_arch(NULL) == NULL);
  CHECK(bitnet_model_weight_type(NULL) == NULL);
  CHECK_EQ(bitnet_model_token_bos(NULL), -1);
  CHECK_EQ(bitnet_model_token_eos(NULL), -1);
  CHECK_EQ(bitnet_model_n_ctx_train(NULL) + bitnet_model_n_embd(NULL) + bitnet_model_n_layer(NULL) +
               bitnet_model_n_head(NULL) + bitnet_model_n_head_kv(NULL),
           0);
  printf("model: %s %s, vocab %d, progress reached %.2f\n", bitnet_model_arch(model),
         bitnet_model_weight_type(model), (int)vocab, (double)progress);

  /* tokenize / detokenize */
  CHECK_EQ(bitnet_tokenize(model, kPrompt, true, true, NULL, 0, &need),
           BITNET_ERR_BUFFER_TOO_SMALL);
  CHECK_EQ(bitnet_tokenize(model, kPrompt, true, true, tokens, need - 1, &n),
           BITNET_ERR_BUFFER_TOO_SMALL);
  CHECK_EQ(n, need);
  CHECK_EQ(bitnet_tokenize(model, kPrompt, true, true, tokens, 64, &n), BITNET_OK);
  CHECK_EQ(n, need);
  CHECK_EQ(tokens[0], bitnet_model_token_bos(model));
  CHECK_EQ(bitnet_tokenize(NULL, kPrompt, true, true, tokens, 64, &n), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_tokenize(model, NULL, true, true, tokens, 64, &n), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_tokenize(model, kPrompt, true, true, tokens, -1, &n),
           BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_detokenize(model, tokens + 1, n - 1, true, text, sizeof text, &len), BITNET_OK);
  CHECK(strstr(text, "quick brown fox") != NULL);
  CHECK_EQ(len, (int32_t)strlen(text));
  CHECK_EQ(bitnet_detokenize(model, tokens + 1, n - 1, true, text, len, &need),
           BITNET_ERR_BUFFER_TOO_SMALL);
  CHECK_EQ(need, len);
  CHECK_EQ(bitnet_detokenize(model, tokens + 1, n - 1, true, text, len + 1, &need), BITNET_OK);
  {
    bitnet_token bad = vocab;
    CHECK_EQ(bitnet_detokenize(model, &bad, 1, true, text, sizeof text, &len),
             BITNET_ERR_INVALID_ARGUMENT);
  }
  CHECK_EQ(bitnet_detokenize(NULL, tokens, 1, true, text, sizeof text, &len),
           BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_detokenize(model, tokens, 1, true, NULL, 5, &len), BITNET_ERR_INVALID_ARGUMENT);

  /* context */
  CHECK_EQ(bitnet_context_create(NULL, NULL, &ctx), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_context_create(model, NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
  cp.n_ctx = -1;
  CHECK_EQ(bitnet_context_create(model, &cp, &ctx), BITNET_ERR_INVALID_ARGUMENT);
  cp = bitnet_context_default_params();
  cp.numerics = 9;
  CHECK_EQ(bitnet_context_create(model, &cp, &ctx), BITNET_ERR_INVALID_ARGUMENT);
  cp = bitnet_context_default_params();
  cp.n_ctx = 32;
  cp.n_threads = 1;
  CHECK_EQ(bitnet_context_create(model, &cp, &ctx), BITNET_OK);
  if (ctx == NULL) goto out;
  CHECK_EQ(bitnet_context_n_ctx(ctx), 32);
  CHECK_EQ(bitnet_context_n_past(ctx), 0);
  CHECK_EQ(bitnet_context_n_threads(ctx), 1);
  CHECK_EQ(
      bitnet_context_n_ctx(NULL) + bitnet_context_n_past(NULL) + bitnet_context_n_threads(NULL), 0);
  CHECK_EQ(bitnet_context_set_n_threads(ctx, 2), BITNET_OK);
  CHECK_EQ(bitnet_context_n_threads(ctx), 2);
  CHECK_EQ(bitnet_context_set_n_threads(ctx, 0), BITNET_OK);
  CHECK(bitnet_context_n_threads(ctx) >= 1);
  CHECK_EQ(bitnet_context_set_n_threads(ctx, 1), BITNET_OK);
  CHECK_EQ(bitnet_context_set_n_threads(NULL, 1), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_context_set_n_threads(ctx, -1), BITNET_ERR_INVALID_ARGUMENT);

  /* eval + logits */
  CHECK_EQ(bitnet_n_logits_rows(ctx), 0);
  CHECK(bitnet_get_logits(ctx, -1) == NULL);
  CHECK_EQ(bitnet_eval(ctx, NULL, 1, true), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_eval(ctx, tokens, 0, true), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_eval(NULL, tokens, 1, true), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_eval(ctx, tokens, n, true), BITNET_OK);
  CHECK_EQ(bitnet_n_logits_rows(ctx), n);
  CHECK_EQ(bitnet_context_n_past(ctx), n);
  CHECK(bitnet_get_logits(ctx, 0) != NULL);
  CHECK(bitnet_get_logits(ctx, n) == NULL);
  CHECK(bitnet_get_logits(ctx, -2) == NULL);
  CHECK(bitnet_get_logits(NULL, 0) == NULL);
  row = bitnet_get_logits(ctx, -1);
  CHECK(row == bitnet_get_logits(ctx, n - 1));
  CHECK_EQ(bitnet_context_set_n_threads(ctx, 2), BITNET_ERR_INVALID_ARGUMENT); /* cache not empty */
  greedy_first = row ? argmax(row, vocab) : -1;
  {
    /* 32 - n positions left: one more than that is CONTEXT_FULL and changes nothing */
    bitnet_token many[64];
    for (i = 0; i < 64; ++i) many[i] = tokens[1 + i % (n - 1)];
    CHECK_EQ(bitnet_eval(ctx, many, 32 - n + 1, false), BITNET_ERR_CONTEXT_FULL);
    CHECK_EQ(bitnet_context_n_past(ctx), n);
  }
  {
    bitnet_token bad = vocab;
    CHECK_EQ(bitnet_eval(ctx, &bad, 1, false), BITNET_ERR_INVALID_ARGUMENT);
  }
  CHECK_EQ(bitnet_context_truncate(ctx, n - 1), BITNET_OK);
  CHECK_EQ(bitnet_context_n_past(ctx), n - 1);
  CHECK_EQ(bitnet_context_truncate(ctx, n), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_context_truncate(NULL, 0), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_eval(ctx, tokens + n - 1, 1, false), BITNET_OK);
  CHECK_EQ(bitnet_n_logits_rows(ctx), 1);
  CHECK_EQ(bitnet_context_reset(ctx), BITNET_OK);
  CHECK_EQ(bitnet_context_n_past(ctx), 0);
  CHECK_EQ(bitnet_context_reset(NULL), BITNET_ERR_INVALID_ARGUMENT);

  /* sampling */
  sp.top_p = 1.5f;
  CHECK_EQ(bitnet_sampler_create(&sp, &sampler), BITNET_ERR_INVALID_ARGUMENT);
  CHECK(strstr(bitnet_last_error(), "top_p") != NULL);
  sp = bitnet_sampler_default_params();
  sp.temperature = -1.0f;
  CHECK_EQ(bitnet_sampler_create(&sp, &sampler), BITNET_ERR_INVALID_ARGUMENT);
  sp = bitnet_sampler_default_params();
  sp.top_k = -1;
  CHECK_EQ(bitnet_sampler_create(&sp, &sampler), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_sampler_create(NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
  sp = bitnet_sampler_default_params();
  sp.temperature = 0.0f;
  CHECK_EQ(bitnet_sampler_create(&sp, &sampler), BITNET_OK);
  CHECK_EQ(bitnet_eval(ctx, tokens, n, false), BITNET_OK);
  row = bitnet_get_logits(ctx, -1);
  CHECK_EQ(bitnet_sampler_sample(sampler, row, vocab, &tok), BITNET_OK);
  CHECK_EQ(tok, greedy_first);
  CHECK_EQ(bitnet_sampler_sample(sampler, NULL, vocab, &tok), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_sampler_sample(sampler, row, 0, &tok), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_sampler_sample(NULL, row, vocab, &tok), BITNET_ERR_INVALID_ARGUMENT);
  bitnet_sampler_free(sampler);
  {
    /* the same seed gives the same draws; a top-k of 1 is greedy */
    bitnet_sampler *a = NULL, *b = NULL;
    bitnet_token ta, tb;
    int same = 1;
    sp = bitnet_sampler_default_params();
    sp.temperature = 1.5f;
    sp.top_p = 0.9f;
    sp.seed = 1234;
    CHECK_EQ(bitnet_sampler_create(&sp, &a), BITNET_OK);
    CHECK_EQ(bitnet_sampler_create(&sp, &b), BITNET_OK);
    for (i = 0; i < 20 && a && b; ++i) {
      bitnet_sampler_sample(a, row, vocab, &ta);
      bitnet_sampler_sample(b, row, vocab, &tb);
      if (ta != tb || ta < 0 || ta >= vocab) same = 0;
    }
    CHECK(same);
    bitnet_sampler_free(a);
    bitnet_sampler_free(b);
    sp.top_k = 1;
    CHECK_EQ(bitnet_sampler_create(&sp, &a), BITNET_OK);
    if (a) {
      CHECK_EQ(bitnet_sampler_sample(a, row, vocab, &ta), BITNET_OK);
      CHECK_EQ(ta, greedy_first);
    }
    bitnet_sampler_free(a);
  }
  bitnet_sampler_free(NULL);

  /* generate: greedy, streamed, cancelled after 3, and the first token is the batch's arg-max */
  gp.sampling.temperature = 0.0f;
  gp.max_new_tokens = 6;
  gp.on_token = on_token;
  gp.user_data = &stream;
  memset(&stream, 0, sizeof stream);
  CHECK_EQ(bitnet_generate(ctx, kPrompt, &gp, &result), BITNET_OK);
  CHECK_EQ(result.n_prompt_tokens, n);
  CHECK(result.finish_reason == BITNET_FINISH_LENGTH || result.finish_reason == BITNET_FINISH_EOG);
  CHECK_EQ(stream.calls, result.n_generated);
  CHECK_EQ(stream.tokens[0], greedy_first);
  memset(&stream, 0, sizeof stream);
  stream.cancel_after = 3;
  CHECK_EQ(bitnet_generate(ctx, kPrompt, &gp, &result), BITNET_OK);
  CHECK_EQ(result.finish_reason, BITNET_FINISH_CANCELLED);
  CHECK_EQ(result.n_generated, 3);
  CHECK_EQ(stream.calls, 3);
  /* a full context ends the generation */
  gp.on_token = NULL;
  gp.max_new_tokens = 100;
  CHECK_EQ(bitnet_generate(ctx, kPrompt, &gp, &result), BITNET_OK);
  CHECK(result.finish_reason == BITNET_FINISH_CONTEXT_FULL ||
        result.finish_reason == BITNET_FINISH_EOG);
  CHECK_EQ(bitnet_generate(ctx, kPrompt, NULL, NULL), BITNET_OK);
  CHECK_EQ(bitnet_generate(NULL, kPrompt, &gp, &result), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_generate(ctx, NULL, &gp, &result), BITNET_ERR_INVALID_ARGUMENT);
  gp.max_new_tokens = 0;
  CHECK_EQ(bitnet_generate(ctx, kPrompt, &gp, &result), BITNET_ERR_INVALID_ARGUMENT);
  gp.max_new_tokens = 4;
  gp.add_bos = false;
  CHECK_EQ(bitnet_generate(ctx, "", &gp, &result), BITNET_ERR_INVALID_ARGUMENT);
  {
    /* a prompt longer than the context: CONTEXT_FULL */
    char long_prompt[1024];
    memset(long_prompt, 0, sizeof long_prompt);
    for (i = 0; i < 20; ++i) strcat(long_prompt, "word and ");
    CHECK_EQ(bitnet_generate(ctx, long_prompt, &gp, &result), BITNET_ERR_CONTEXT_FULL);
  }

out:
  bitnet_context_free(ctx);
  bitnet_context_free(NULL);
  bitnet_model_free(model);
  bitnet_model_free(NULL);
}

/* The opt-in quantized head: bad values are refused; Q8_0 and Q6_K logits differ from the stored
 * head's only slightly (same arg-max on this prompt's last position). */
static void test_head_type(void) {
  static const int32_t kHeads[] = {BITNET_HEAD_STORED, BITNET_HEAD_Q8_0, BITNET_HEAD_Q6_K};
  bitnet_model_params mp = bitnet_model_default_params();
  bitnet_context_params cp = bitnet_context_default_params();
  bitnet_model* model = NULL;
  bitnet_token tokens[64];
  float last[3][8];
  int32_t n = 0, vocab = 0, argmax[3] = {-1, -1, -1}, h, v;

  CHECK_EQ(mp.head_type, BITNET_HEAD_STORED);
  mp.head_type = 3;
  CHECK_EQ(bitnet_model_load(g_model, &mp, &model), BITNET_ERR_INVALID_ARGUMENT);
  CHECK(strstr(bitnet_last_error(), "head_type") != NULL);
  mp.head_type = -1;
  CHECK_EQ(bitnet_model_load(g_model, &mp, &model), BITNET_ERR_INVALID_ARGUMENT);
  cp.n_ctx = 32;
  cp.n_threads = 1;
  for (h = 0; h < 3; ++h) {
    bitnet_context* ctx = NULL;
    const float* row;
    mp.head_type = kHeads[h];
    model = NULL;
    CHECK_EQ(bitnet_model_load(g_model, &mp, &model), BITNET_OK);
    if (model == NULL) return;
    vocab = bitnet_model_n_vocab(model);
    CHECK_EQ(bitnet_tokenize(model, kPrompt, true, true, tokens, 64, &n), BITNET_OK);
    CHECK_EQ(bitnet_context_create(model, &cp, &ctx), BITNET_OK);
    if (ctx != NULL && bitnet_eval(ctx, tokens, n, false) == BITNET_OK) {
      row = bitnet_get_logits(ctx, -1);
      argmax[h] = 0;
      for (v = 1; v < vocab; ++v) {
        if (row[v] > row[argmax[h]]) argmax[h] = v;
      }
      memcpy(last[h], row, sizeof last[h]);
    }
    bitnet_context_free(ctx);
    bitnet_model_free(model);
  }
  CHECK_EQ(argmax[1], argmax[0]);
  CHECK_EQ(argmax[2], argmax[0]);
  CHECK(memcmp(last[0], last[1], sizeof last[0]) != 0); /* the Q8_0 head is really used */
  for (v = 0; v < 8; ++v) CHECK(fabsf(last[1][v] - last[0][v]) < 0.5f);
}

/* Several sequences in one batch: every bitnet_batch_* / bitnet_kv_seq_* function, its error
 * paths, and fast numerics' batch invariance (a sequence decoded with another gives the bits of
 * the same sequence decoded alone). */
static void test_batches(void) {
  bitnet_model* model = NULL;
  CHECK_EQ(bitnet_model_load(g_model, NULL, &model), BITNET_OK);
  if (model == NULL) return;
  bitnet_context_params p = bitnet_context_default_params();
  CHECK_EQ(p.n_seq_max, 1);
  p.n_ctx = 64;
  p.n_seq_max = 2;
  p.n_threads = 2;
  p.numerics = BITNET_NUMERICS_FAST;
  bitnet_context* ctx = NULL;
  CHECK_EQ(bitnet_context_create(model, &p, &ctx), BITNET_OK);
  CHECK_EQ(bitnet_context_n_seq_max(ctx), 2);
  CHECK_EQ(bitnet_context_n_ctx_seq(ctx), 32);
  CHECK_EQ(bitnet_context_n_ctx(ctx), 64);
  CHECK_EQ(bitnet_context_n_seq_max(NULL), 0);
  CHECK_EQ(bitnet_context_n_ctx_seq(NULL), 0);

  bitnet_context_params bad = p;
  bad.n_seq_max = 0;
  bitnet_context* none = NULL;
  CHECK_EQ(bitnet_context_create(model, &bad, &none), BITNET_ERR_INVALID_ARGUMENT);
  bad.n_seq_max = 100;
  CHECK_EQ(bitnet_context_create(model, &bad, &none), BITNET_ERR_INVALID_ARGUMENT);
  CHECK(none == NULL);

  CHECK(bitnet_batch_init(0) == NULL);
  CHECK(strstr(bitnet_last_error(), "n_tokens_max") != NULL);
  bitnet_batch* batch = bitnet_batch_init(4);
  CHECK(batch != NULL);
  CHECK_EQ(bitnet_batch_n_tokens(batch), 0);
  CHECK_EQ(bitnet_batch_n_tokens(NULL), 0);
  CHECK_EQ(bitnet_batch_decode(ctx, batch), BITNET_ERR_INVALID_ARGUMENT); /* empty */
  CHECK_EQ(bitnet_batch_decode(NULL, batch), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_batch_add(NULL, 1, 0, 0, true), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_batch_add(batch, 1, -1, 0, true), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_batch_add(batch, 1, 0, -1, true), BITNET_ERR_INVALID_ARGUMENT);
  CHECK(bitnet_batch_get_logits(ctx, 0) == NULL); /* nothing decoded yet */

  /* Sequence 0: tokens a; sequence 1: tokens b; both in one batch, interleaved. */
  const bitnet_token a[2] = {1, 450};
  const bitnet_token b[2] = {1, 4996};
  CHECK_EQ(bitnet_batch_add(batch, a[0], 0, 0, false), BITNET_OK);
  CHECK_EQ(bitnet_batch_add(batch, b[0], 0, 1, false), BITNET_OK);
  CHECK_EQ(bitnet_batch_add(batch, b[1], 1, 1, true), BITNET_OK);
  CHECK_EQ(bitnet_batch_add(batch, a[1], 1, 0, true), BITNET_OK);
  CHECK_EQ(bitnet_batch_add(batch, 1, 2, 0, true), BITNET_ERR_CONTEXT_FULL); /* capacity 4 */
  CHECK_EQ(bitnet_batch_n_tokens(batch), 4);
  CHECK_EQ(bitnet_batch_decode(ctx, batch), BITNET_OK);
  CHECK_EQ(bitnet_kv_seq_n_past(ctx, 0), 2);
  CHECK_EQ(bitnet_kv_seq_n_past(ctx, 1), 2);
  CHECK_EQ(bitnet_kv_seq_n_past(ctx, 2), -1);
  CHECK_EQ(bitnet_kv_seq_n_past(NULL, 0), -1);
  CHECK(bitnet_batch_get_logits(ctx, 0) == NULL); /* no logits asked for token 0 */
  CHECK(strstr(bitnet_last_error(), "no logits") != NULL);
  CHECK(bitnet_batch_get_logits(ctx, 4) == NULL);
  const float* lb = bitnet_batch_get_logits(ctx, 2);
  const float* la = bitnet_batch_get_logits(ctx, 3);
  CHECK(la != NULL && lb != NULL && bitnet_batch_get_logits(ctx, -1) == la);

  /* The same sequences alone. */
  const int32_t n_vocab = bitnet_model_n_vocab(model);
  bitnet_context_params solo_params = p;
  solo_params.n_seq_max = 1;
  solo_params.n_ctx = 32;
  bitnet_context* solo = NULL;
  CHECK_EQ(bitnet_context_create(model, &solo_params, &solo), BITNET_OK);
  if (solo && la && lb) {
    CHECK_EQ(bitnet_eval(solo, a, 2, false), BITNET_OK);
    CHECK(memcmp(bitnet_get_logits(solo, -1), la, sizeof(float) * (size_t)n_vocab) == 0);
    CHECK_EQ(bitnet_context_reset(solo), BITNET_OK);
    CHECK_EQ(bitnet_eval(solo, b, 2, false), BITNET_OK);
    CHECK(memcmp(bitnet_get_logits(solo, -1), lb, sizeof(float) * (size_t)n_vocab) == 0);
  }
  bitnet_context_free(solo);

  /* Positions must continue each sequence; ids must exist; nothing changes on error. */
  bitnet_batch_clear(batch);
  CHECK_EQ(bitnet_batch_n_tokens(batch), 0);
  CHECK_EQ(bitnet_batch_add(batch, 1, 5, 0, true), BITNET_OK);
  CHECK_EQ(bitnet_batch_decode(ctx, batch), BITNET_ERR_INVALID_ARGUMENT);
  CHECK(strstr(bitnet_last_error(), "expected 2") != NULL);
  bitnet_batch_clear(batch);
  CHECK_EQ(bitnet_batch_add(batch, 1, 2, 7, true), BITNET_OK);
  CHECK_EQ(bitnet_batch_decode(ctx, batch), BITNET_ERR_INVALID_ARGUMENT);
  CHECK(strstr(bitnet_last_error(), "sequence id 7") != NULL);
  bitnet_batch_clear(batch);
  CHECK_EQ(bitnet_batch_add(batch, n_vocab, 2, 0, true), BITNET_OK);
  CHECK_EQ(bitnet_batch_decode(ctx, batch), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_kv_seq_n_past(ctx, 0), 2);

  /* A sequence's share of the cache is n_ctx / n_seq_max. */
  bitnet_batch* big = bitnet_batch_init(40);
  for (int32_t i = 0; i < 31; ++i) CHECK_EQ(bitnet_batch_add(big, 1, 2 + i, 1, false), BITNET_OK);
  CHECK_EQ(bitnet_batch_decode(ctx, big), BITNET_ERR_CONTEXT_FULL);
  CHECK_EQ(bitnet_kv_seq_n_past(ctx, 1), 2);
  bitnet_batch_free(big);

  CHECK_EQ(bitnet_kv_seq_truncate(ctx, 1, 3), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_kv_seq_truncate(ctx, 2, 0), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_kv_seq_truncate(NULL, 0, 0), BITNET_ERR_INVALID_ARGUMENT);
  CHECK_EQ(bitnet_kv_seq_truncate(ctx, 1, 0), BITNET_OK);
  CHECK_EQ(bitnet_kv_seq_n_past(ctx, 1), 0);
  CHECK_EQ(bitnet_kv_seq_n_past(ctx, 0), 2);
  CHECK_EQ(bitnet_context_set_n_threads(ctx, 1), BITNET_ERR_INVALID_ARGUMENT); /* cache not empty */

  bitnet_batch_free(batch);
  bitnet_batch_free(NULL);
  bitnet_batch_clear(NULL);
  bitnet_context_free(ctx);
  bitnet_model_free(model);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.gguf SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  g_model = argv[1];
  g_scratch = argv[2];
  unsetenv("BITNET_GPU_LAYERS");
  test_info();
  test_open_errors();
  test_err_buffer();
  test_session();
  test_gpu_layers();
  test_concurrent_open();
  test_general_api();
  test_head_type();
  test_batches();
  printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures == 0 ? 0 : 1;
}
