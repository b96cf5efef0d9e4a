// Per-position logits of the first N tokens of a prompt, two ways through the session ABI:
//  - session: open once, eval_last one token at a time (what the session ABI is for);
//  - reload: open, eval the first p tokens, close, for p = 1..N (the old one-shot path).
// Prints both times and the speedup for N = 4 and 32 (design figures: 4.2x and 27x).
// Usage: session_vs_reload_bench [MODEL.gguf] [n_threads]   (default: the tiny I2_S fixture)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bitnet/crossval_session.h"

namespace {

constexpr const char* kText =
    "The session ABI lets any program load a model once and then tokenize, prefill and evaluate "
    "many "
    "times without reloading: the old one-shot path reloaded the model for every call, which made "
    "a "
    "per-position check of a long prompt slow. This paragraph only needs to be long enough.";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void check(int rc, const char* what, const char* err) {
  if (rc == 0) return;
  std::fprintf(stderr, "%s failed (%d): %s\n", what, rc, err);
  std::exit(1);
}

double run_session(const std::string& model, int threads, const std::vector<int32_t>& tokens, int n,
                   std::vector<float>& logits) {
  char err[512] = {};
  const auto t0 = std::chrono::steady_clock::now();
  void* h = nullptr;
  check(crossval_bitnet_open_ex(model.c_str(), 512, 0, threads, &h, err, sizeof err), "open", err);
  int32_t vocab = 0;
  crossval_bitnet_vocab_size(h, &vocab);
  logits.resize(static_cast<size_t>(vocab));
  for (int p = 0; p < n; ++p)
    check(crossval_bitnet_eval_last(h, &tokens[static_cast<size_t>(p)], 1, logits.data(), vocab,
                                    err, sizeof err),
          "eval_last", err);
  crossval_bitnet_close(h);
  return seconds_since(t0);
}

double run_reload(const std::string& model, int threads, const std::vector<int32_t>& tokens, int n,
                  std::vector<float>& logits) {
  char err[512] = {};
  const auto t0 = std::chrono::steady_clock::now();
  for (int p = 1; p <= n; ++p) {
    void* h = nullptr;
    check(crossval_bitnet_open_ex(model.c_str(), 512, 0, threads, &h, err, sizeof err), "open",
          err);
    int32_t vocab = 0;
    crossval_bitnet_vocab_size(h, &vocab);
    logits.resize(static_cast<size_t>(vocab));
    check(crossval_bitnet_eval_last(h, tokens.data(), p, logits.data(), vocab, err, sizeof err),
          "eval_last", err);
    crossval_bitnet_close(h);
  }
  return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string model =
      argc > 1 ? argv[1] : std::string(BITNET_FIXTURES_DIR) + "/tiny-b158-i2s.gguf";
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  char err[512] = {};
  void* h = nullptr;
  check(crossval_bitnet_open(model.c_str(), 512, &h, err, sizeof err), "open", err);
  std::vector<int32_t> tokens(512);
  int32_t n_tokens = 0;
  check(crossval_bitnet_tokenize_with(h, kText, 1, tokens.data(), 512, &n_tokens, err, sizeof err),
        "tokenize", err);
  crossval_bitnet_close(h);
  tokens.resize(static_cast<size_t>(n_tokens));
  if (n_tokens < 32) {
    std::fprintf(stderr, "the text has only %d tokens\n", n_tokens);
    return 1;
  }

  std::printf("model %s, %d thread(s)\n", model.c_str(), threads);
  std::printf("%8s %14s %14s %9s %8s\n", "tokens", "session (s)", "reload (s)", "speedup",
              "design");
  for (const int n : {4, 32}) {
    std::vector<float> a, b;
    const double session = run_session(model, threads, tokens, n, a);
    const double reload = run_reload(model, threads, tokens, n, b);
    std::printf("%8d %14.3f %14.3f %8.1fx %7.1fx\n", n, session, reload, reload / session,
                n == 4 ? 4.2 : 27.0);
  }
  return 0;
}
