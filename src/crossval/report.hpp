// The crossval-per-token report: a readable table or one JSON document
// (docs/schemas/crossval-per-token.schema.json) with the same fields.
#pragma once

#include <cstdio>
#include <string>

#include "crossval/backend.hpp"
#include "crossval/per_token.hpp"

namespace bitnet::crossval {

struct ReportSettings {
  std::string model;
  std::string tokenizer;  // empty: the model's own
  std::string prompt;     // as given, before the template
  std::string chat_template;
  bool add_bos = true;
  int max_tokens = 4;
  double cos_tol = 0.999;
  int threads = 0;
  int gpu_layers = 0;
  double load_a_s = 0;
  double load_b_s = 0;
};

// 0 all positions within tolerance, 1 divergence, 2 token mismatch.
int exit_code(const PerTokenResult& result);

// Both write to `out`; pieces are looked up on side A first, then side B.
void write_text_report(std::FILE* out, const Backend& a, const Backend& b,
                       const ReportSettings& settings, const PerTokenResult& result);
std::string json_report(const Backend& a, const Backend& b, const ReportSettings& settings,
                        const PerTokenResult& result);

// The token-mismatch explanation (also printed on stderr in JSON mode).
std::string describe_mismatch(const Backend& a, const Backend& b, const ReportSettings& settings,
                              const PerTokenResult& result);

// A token's bytes made printable for one table cell: escapes for control bytes, at most
// max_chars code points, then "…".
std::string printable_piece(const std::string& bytes, size_t max_chars);

}  // namespace bitnet::crossval
