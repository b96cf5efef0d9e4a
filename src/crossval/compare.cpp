#include "crossval/compare.hpp"

#include <charconv>
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

SideB parse_side_b(const std::string& spec) {
  SideB side;
  const auto bad = [&](const std::string& why) {
    return Error(ErrorCategory::config,
                 "side B: expected reference, golden:FILE.json, lib:PATH.so "
                 "or native:ngl=N, got '" +
                     spec + "'" + why);
  };
  if (spec == "reference") return side;
  if (spec.starts_with("golden:") || spec.starts_with("lib:")) {
    const bool golden = spec.starts_with("golden:");
    side.kind = golden ? SideB::Kind::golden : SideB::Kind::library;
    side.path = spec.substr(golden ? 7 : 4);
    if (side.path.empty()) throw bad(" (no path)");
    return side;
  }
  if (spec.starts_with("native:ngl=")) {
    const std::string digits = spec.substr(11);
    int n = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || n < -1)
      throw bad(" (N: a layer count, -1 = all)");
    side.kind = SideB::Kind::native;
    side.gpu_layers = n;
    return side;
  }
  throw bad("");
}

Comparison compare(const CompareRequest& r) {
  const SideB side_b = parse_side_b(r.side_b);
  const bool golden = side_b.kind == SideB::Kind::golden;
  std::string prompt = r.prompt;
  if (prompt.empty()) {
    if (!golden) throw Error(ErrorCategory::config, "a prompt is required (except with golden:)");
    prompt = golden_prompt(side_b.path);
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
    switch (side_b.kind) {
      case SideB::Kind::golden:
        return open_golden(side_b.path);
      case SideB::Kind::native: {
        NativeOptions offloaded = native;
        offloaded.name = r.side_b;
        offloaded.n_gpu_layers = side_b.gpu_layers;
        offloaded.trace_dir.clear();  // --trace records side A
        return open_native(offloaded);
      }
      case SideB::Kind::library:
        return open_library(side_b.path, r.model, native.n_ctx, r.gpu_layers, r.threads);
      case SideB::Kind::reference:
        break;
    }
    return open_library(find_reference_library(), r.model, native.n_ctx, r.gpu_layers, r.threads);
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
