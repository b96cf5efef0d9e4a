// bitnet crossval-per-token: do two backends see the same tokens, and at which position do their
// logits part ways? See docs/crossval.md. Exit codes: 0 all positions within --cos-tol,
// 1 divergence, 2 token mismatch (nothing evaluated), 3 usage or load error (message on stderr).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "crossval/compare.hpp"
#include "crossval/html_report.hpp"
#include "crossval/report.hpp"
#include "model/offload.hpp"
#include "report/html_page.hpp"
#include "trace_option.hpp"

namespace bitnet::tools {
namespace {

constexpr int kExitUsage = 3;

// Values are taken as strings and checked here, so that every usage error exits with 3 (CLI11's
// own conversion errors would use its exit codes).
struct CrossvalFlags {
  std::string model;
  std::string tokenizer;
  std::string prompt;
  std::string prompt_file;
  std::string max_tokens = "4";
  std::string cos_tol = "0.999";
  std::string format = "text";
  std::string chat_template = "raw";
  bool add_bos = false;
  bool no_bos = false;
  std::string side_a = "native";
  std::string side_b = "reference";
  std::string gpu_layers;  // empty: BITNET_GPU_LAYERS, else 0
  std::string threads = "0";
  std::string trace_dir;
  std::string trace_filter;
  std::string html;
};

struct UsageError {
  std::string message;
};

[[noreturn]] void finish(int code) {
  throw CLI::RuntimeError(code);
}

long parse_int(const std::string& flag, const std::string& text, long min) {
  try {
    size_t used = 0;
    const long v = std::stol(text, &used);
    if (used == text.size() && v >= min) return v;
  } catch (const std::exception&) {
  }
  throw UsageError{flag + ": expected an integer >= " + std::to_string(min) + ", got '" + text +
                   "'"};
}

double parse_tolerance(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && v > -1.0 && v <= 1.0) return v;
  } catch (const std::exception&) {
  }
  throw UsageError{"--cos-tol: expected a number in (-1, 1], got '" + text + "'"};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io, path + ": cannot open prompt file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int run(const CrossvalFlags& f, const std::vector<std::string>& extras) {
  if (!extras.empty()) throw UsageError{"unexpected argument '" + extras.front() + "'"};
  if (f.model.empty()) throw UsageError{"--model is required"};
  if (f.side_a != "native")
    throw UsageError{"--a: only 'native' is supported, got '" + f.side_a + "'"};
  if (f.format != "text" && f.format != "json") {
    throw UsageError{"--format: expected text or json, got '" + f.format + "'"};
  }
  if (f.add_bos && f.no_bos) throw UsageError{"--add-bos and --no-bos are exclusive"};
  if (!f.prompt.empty() && !f.prompt_file.empty()) {
    throw UsageError{"--prompt and --prompt-file are exclusive"};
  }
  bool golden = false;
  try {
    golden = crossval::parse_side_b(f.side_b).kind == crossval::SideB::Kind::golden;
  } catch (const Error& e) {
    throw UsageError{std::string("--b: ") + e.what()};
  }
  const int max_tokens = static_cast<int>(parse_int("--max-tokens", f.max_tokens, 0));
  const double cos_tol = parse_tolerance(f.cos_tol);
  const int gpu_layers = resolve_gpu_layers(
      f.gpu_layers.empty()
          ? std::nullopt
          : std::optional<int>(static_cast<int>(parse_int("--n-gpu-layers", f.gpu_layers, -1))));
  const int threads = static_cast<int>(parse_int("--threads", f.threads, 0));
  if (!f.trace_filter.empty()) {
    try {
      set_trace_filter(f.trace_filter);
    } catch (const Error& e) {
      throw UsageError{std::string("--trace-filter: ") + e.what()};
    }
  }

  crossval::CompareRequest request;
  request.model = f.model;
  request.tokenizer = f.tokenizer;
  request.prompt = f.prompt_file.empty() ? f.prompt : read_file(f.prompt_file);
  if (request.prompt.empty() && !golden)
    throw UsageError{"--prompt or --prompt-file is required (except with --b golden:)"};
  request.side_b = f.side_b;
  request.chat_template = f.chat_template;
  if (f.add_bos || f.no_bos) request.add_bos = f.add_bos;
  request.max_tokens = max_tokens;
  request.cos_tol = cos_tol;
  request.threads = threads;
  request.gpu_layers = gpu_layers;
  request.trace_dir = f.trace_dir;
  const auto c = crossval::compare(request);
  const auto& a = c.a;
  const auto& b = c.b;
  const auto& settings = c.settings;
  const auto& result = c.result;

  const std::string json = crossval::json_report(*a, *b, settings, result);
  if (!f.html.empty()) report::write_report_file(f.html, crossval::html_report(json));
  if (f.format == "json") {
    std::fputs(json.c_str(), stdout);
    if (result.mismatch) {
      std::fputs(crossval::describe_mismatch(*a, *b, settings, result).c_str(), stderr);
    }
  } else {
    crossval::write_text_report(stdout, *a, *b, settings, result);
  }
  std::fflush(stdout);
  return crossval::exit_code(result);
}

}  // namespace

void register_crossval(CLI::App& app) {
  auto flags = std::make_shared<CrossvalFlags>();
  auto* cmd = app.add_subcommand(
      "crossval-per-token",
      "Compare two backends' tokens and per-position logits (exit 0 ok, 1 divergence, 2 token "
      "mismatch, 3 usage/load error)");
  cmd->allow_extras();
  cmd->add_option("-m,--model", flags->model, "GGUF model (required)");
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "tokenizer.json or GGUF for side A (default: the model's own)");
  cmd->add_option("-p,--prompt", flags->prompt,
                  "prompt text (default with --b golden: its prompt)");
  cmd->add_option("-f,--prompt-file", flags->prompt_file, "read the prompt from a file");
  cmd->add_option("-n,--max-tokens", flags->max_tokens,
                  "greedy tokens generated by A and compared (default 4)");
  cmd->add_option("--cos-tol", flags->cos_tol,
                  "first divergent position = first with cosine < this (default 0.999)");
  cmd->add_option("--format", flags->format, "text or json (default text)");
  cmd->add_option("--template", flags->chat_template,
                  "raw (default), auto (the model's chat template) or a template name");
  cmd->add_flag("--add-bos", flags->add_bos, "prepend BOS (default: the tokenizer's setting)");
  cmd->add_flag("--no-bos", flags->no_bos, "do not prepend BOS");
  cmd->add_option("--a", flags->side_a, "side A: native (default)");
  cmd->add_option("--b", flags->side_b,
                  "side B: reference (default), golden:FILE.json, lib:PATH.so, or native:ngl=N "
                  "(our engine with N layers on the GPU: GPU/CPU parity)");
  cmd->add_option("--n-gpu-layers,--gpu-layers", flags->gpu_layers,
                  "-ngl: layers of side A (and of a lib: side B) on the GPU: -1 = all (default: "
                  "BITNET_GPU_LAYERS, else 0; without a GPU they run on the CPU)");
  add_poll_option(*cmd);
  cmd->add_option("-t,--threads", flags->threads, "threads (default: all cores)");
  cmd->add_option("--trace", flags->trace_dir,
                  "record per-layer traces of side A in DIR (as BITNET_TRACE_DIR)");
  cmd->add_option("--html", flags->html,
                  "also write the report as a self-contained HTML page with charts to FILE");
  cmd->add_option("--trace-filter", flags->trace_filter,
                  "record only these LAYER:STAGE patterns (sets BITNET_TRACE_FILTER)");
  cmd->callback([flags, cmd] {
    int code = 0;
    try {
      code = run(*flags, cmd->remaining());
    } catch (const UsageError& e) {
      std::fprintf(stderr, "crossval-per-token: %s (see --help)\n", e.message.c_str());
      code = kExitUsage;
    } catch (const Error& e) {
      std::fprintf(stderr, "crossval-per-token: error (%s): %s\n", to_string(e.category()),
                   e.what());
      code = kExitUsage;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "crossval-per-token: error: %s\n", e.what());
      code = kExitUsage;
    }
    if (code != 0) finish(code);
  });
}

}  // namespace bitnet::tools
