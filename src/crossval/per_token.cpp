#include "crossval/per_token.hpp"

#include <algorithm>
#include <chrono>
#include <span>

#include "bitnet/error.hpp"

namespace bitnet::crossval {
namespace {

using Clock = std::chrono::steady_clock;

// Runs fn and adds its wall time to `seconds`.
template <typename Fn>
auto timed(double& seconds, Fn&& fn) {
  const auto start = Clock::now();
  struct Add {
    double& s;
    Clock::time_point t0;
    ~Add() { s += std::chrono::duration<double>(Clock::now() - t0).count(); }
  } add{seconds, start};
  return fn();
}

void check_vocab(const Backend& a, const Backend& b) {
  if (a.vocab() != b.vocab()) {
    throw Error(ErrorCategory::model, "vocabulary sizes differ: " + a.name() + " has " +
                                          std::to_string(a.vocab()) + ", " + b.name() + " has " +
                                          std::to_string(b.vocab()));
  }
}

PositionResult compare_position(int64_t index, int32_t token, bool generated,
                                std::span<const float> row_a, const std::vector<float>* row_b,
                                double cos_tol) {
  PositionResult p;
  p.index = index;
  p.token = token;
  p.generated = generated;
  if (row_b) {
    p.metrics = compare_rows(row_a, *row_b);
    p.argmax_a = p.metrics->argmax_a;
    p.divergent = !(p.metrics->cosine >= cos_tol);
  } else {
    p.argmax_a = argmax(row_a);
  }
  return p;
}

}  // namespace

std::optional<TokenMismatch> first_token_mismatch(const std::vector<int32_t>& a,
                                                  const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return TokenMismatch{static_cast<int64_t>(i), a[i], b[i]};
  }
  if (a.size() == b.size()) return std::nullopt;
  TokenMismatch m{static_cast<int64_t>(n), std::nullopt, std::nullopt};
  if (n < a.size()) m.id_a = a[n];
  if (n < b.size()) m.id_b = b[n];
  return m;
}

PerTokenResult run_per_token(Backend& a, Backend& b, const PerTokenOptions& o) {
  PerTokenResult r;
  r.tokens_a = a.tokenize(o.prompt, o.add_bos);
  r.tokens_b = b.tokenize(o.prompt, o.add_bos);
  r.mismatch = first_token_mismatch(r.tokens_a, r.tokens_b);
  if (r.mismatch) return r;
  if (r.tokens_a.empty()) throw Error(ErrorCategory::config, "the prompt has no tokens");
  check_vocab(a, b);

  const auto n_vocab = static_cast<size_t>(a.vocab());
  const auto n_prompt = static_cast<int64_t>(r.tokens_a.size());
  std::vector<float> logits_a, logits_b;
  timed(r.eval_a_s, [&] { a.eval_all(r.tokens_a, logits_a); });
  timed(r.eval_b_s, [&] { b.eval_all(r.tokens_b, logits_b); });
  std::vector<float> row_b(n_vocab);
  for (int64_t i = 0; i < n_prompt; ++i) {
    const auto off = static_cast<size_t>(i) * n_vocab;
    std::copy_n(logits_b.begin() + static_cast<std::ptrdiff_t>(off), n_vocab, row_b.begin());
    r.positions.push_back(compare_position(i, r.tokens_a[static_cast<size_t>(i)], false,
                                           std::span<const float>(logits_a).subspan(off, n_vocab),
                                           &row_b, o.cos_tol));
  }

  // Side B's record, when it has one, fixes the continuation (teacher forcing keeps the positions
  // aligned with it); otherwise side A generates greedily.
  const auto recorded = b.recorded_continuation();
  r.continuation_recorded = !recorded.empty();
  const int n_gen = r.continuation_recorded
                        ? std::min<int>(o.max_tokens, static_cast<int>(recorded.size()))
                        : o.max_tokens;
  int32_t next = r.positions.back().argmax_a;
  for (int k = 0; k < n_gen; ++k) {
    const int32_t token = r.continuation_recorded ? recorded[static_cast<size_t>(k)] : next;
    r.continuation.push_back(token);
    const std::span<const int32_t> one(&token, 1);
    timed(r.eval_a_s, [&] { return a.eval_last(one, logits_a); });
    const bool has_b = timed(r.eval_b_s, [&] { return b.eval_last(one, logits_b); });
    if (!has_b && !r.continuation_recorded) {
      // Side B has neither logits nor a recorded token here: nothing left to compare.
      r.continuation.pop_back();
      break;
    }
    auto p = compare_position(n_prompt + k, token, true, logits_a, has_b ? &logits_b : nullptr,
                              o.cos_tol);
    if (!has_b && r.continuation_recorded && static_cast<size_t>(k + 1) < recorded.size()) {
      p.expected_next = recorded[static_cast<size_t>(k + 1)];
      p.divergent = p.argmax_a != *p.expected_next;
    }
    next = p.argmax_a;
    r.positions.push_back(p);
  }

  for (const auto& p : r.positions) {
    if (p.divergent) {
      r.first_divergent = p.index;
      break;
    }
  }
  return r;
}

}  // namespace bitnet::crossval
