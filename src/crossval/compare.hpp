// One crossval-per-token comparison from its settings to its result: side B chosen by spec
// ("reference", "golden:FILE.json", "lib:PATH.so", "native:ngl=N"), the prompt formatted by the
// chat template, both sides opened (with load times) and compared. What `bitnet crossval-per-token`
// and the Python package's bitnet.crossval.per_token run; they only format the outcome.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "crossval/backend.hpp"
#include "crossval/per_token.hpp"
#include "crossval/report.hpp"

namespace bitnet::crossval {

// Side B as its spec names it:
//  - reference: libbitnet_reference.so; lib:PATH.so: any library with the session ABI;
//  - golden:FILE.json: recorded reference logits;
//  - native:ngl=N: our engine again, with N layers offloaded (-1 = all): GPU against CPU parity,
//    side A running with -ngl (default 0, the CPU).
struct SideB {
  enum class Kind { reference, library, golden, native } kind = Kind::reference;
  std::string path;    // library and golden
  int gpu_layers = 0;  // native
};
// Throws Error(config) naming the accepted forms for anything else.
SideB parse_side_b(const std::string& spec);

struct CompareRequest {
  std::string model;      // side A (native) and, for live side B, its model too
  std::string tokenizer;  // side A's tokenizer (empty: the model's own)
  std::string prompt;     // as given; empty with a golden side B: the golden's prompt
  std::string side_b = "reference";
  std::string chat_template = "raw";  // raw, auto or a template name
  std::optional<bool> add_bos;        // nullopt: side A's tokenizer default
  int max_tokens = 4;
  double cos_tol = 0.999;
  int threads = 0;
  int gpu_layers = 0;
  std::string trace_dir;  // non-empty: side A's per-layer traces
};

struct Comparison {
  std::unique_ptr<Backend> a;
  std::unique_ptr<Backend> b;
  ReportSettings settings;
  PerTokenResult result;
};

// Throws bitnet::Error(config) for a bad request (an unknown side B, no prompt), and whatever
// opening or evaluating a side throws.
Comparison compare(const CompareRequest& request);

}  // namespace bitnet::crossval
