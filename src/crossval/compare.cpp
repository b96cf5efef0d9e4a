#include "crossval/compare.hpp"

#include <chrono>

#include "bitnet/error.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::crossval {
namespace {

std::string apply_template(const CompareRequest& r, const std::string& prompt) {
  if (r.chat_template == "raw") return prompt;
  const std::vector<tokenizer::ChatMessage> messages = {{"user", prompt}};
  if (r.chat_template == "auto") {
    const auto tok = tokenizer::Tokenizer::from_path(r.tokenizer.empty() ? r.model : r.tokenizer);
    return tokenizer::apply_chat_template(tok, "auto", messages, /*add_assistant=*/true);
  }
  return tokenizer::apply_chat_template(tokenizer::chat_template_from_name(r.chat_template),
                                        messages, /*add_assistant=*/true);
}

template <typename Fn>
auto timed_load(double& seconds, Fn&& fn) {
  const auto start = std::chrono::steady_clock::now();
  auto result = fn();
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace

Comparison compare(const CompareRequest& r) {
  const bool golden = r.side_b.rfind("golden:", 0) == 0;
  const bool library = r.side_b.rfind("lib:", 0) == 0;
  if (!golden && !library && r.side_b != "reference") {
    throw Error(
        ErrorCategory::config,
        "side B: expected reference, golden:FILE.json or lib:PATH.so, got '" + r.side_b + "'");
  }
  std::string prompt = r.prompt;
  if (prompt.empty()) {
    if (!golden) throw Error(ErrorCategory::config, "a prompt is required (except with golden:)");
    prompt = golden_prompt(r.side_b.substr(7));
  }
  const std::string text = apply_template(r, prompt);

  Comparison c;
  auto& s = c.settings;
  s.model = r.model;
  s.tokenizer = r.tokenizer;
  s.prompt = prompt;
  s.chat_template = r.chat_template;
  s.max_tokens = r.max_tokens;
  s.cos_tol = r.cos_tol;
  s.threads = r.threads;
  s.gpu_layers = r.gpu_layers;

  NativeOptions native;
  native.model_path = r.model;
  native.tokenizer_path = r.tokenizer;
  native.n_threads = r.threads;
  native.n_gpu_layers = r.gpu_layers;
  native.trace_dir = r.trace_dir;
  c.a = timed_load(s.load_a_s, [&] { return open_native(native); });
  c.b = timed_load(s.load_b_s, [&]() -> std::unique_ptr<Backend> {
    if (golden) return open_golden(r.side_b.substr(7));
    const std::string lib = library ? r.side_b.substr(4) : find_reference_library();
    return open_library(lib, r.model, native.n_ctx, r.gpu_layers, r.threads);
  });
  s.add_bos = r.add_bos.value_or(c.a->add_bos_default().value_or(true));

  PerTokenOptions options;
  options.prompt = text;
  options.add_bos = s.add_bos;
  options.max_tokens = r.max_tokens;
  options.cos_tol = r.cos_tol;
  c.result = run_per_token(*c.a, *c.b, options);
  return c;
}

}  // namespace bitnet::crossval
