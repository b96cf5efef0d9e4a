// bitnet trace-diff A B: compares two per-layer traces (BITNET_TRACE_DIR runs) and names the first
// divergent (seq, layer, stage, pos). Exit codes: 0 no divergence, 1 divergence, 2 usage or read
// error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "report/html_page.hpp"
#include "trace/trace_diff.hpp"
#include "trace/trace_diff_html.hpp"
#include "trace/trace_diff_report.hpp"
#include "trace/trace_reader.hpp"

namespace bitnet::tools {

namespace {
constexpr int kExitDivergence = 1;
constexpr int kExitUsage = 2;

struct TraceDiffOptions {
  std::string a, b;
  std::string format = "text";
  std::string tol = "1e-6";
  std::string max_records = "1000";
  std::string html;
};

// CLI11 reports its own parse errors with exit codes above 100; this command promises 2, so it
// validates its arguments itself.
[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "trace-diff: %s (see bitnet trace-diff --help)\n", message.c_str());
  throw CLI::RuntimeError(kExitUsage);
}

double parse_number(const std::string& text, const char* flag) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  usage_error(std::string(flag) + " needs a non-negative number, got '" + text + "'");
}

void run_trace_diff(const TraceDiffOptions& opt, const std::vector<std::string>& extras) {
  if (!extras.empty()) usage_error("unexpected argument '" + extras.front() + "'");
  if (opt.a.empty() || opt.b.empty()) usage_error("needs two traces: DIR_A DIR_B");
  if (opt.format != "text" && opt.format != "json") usage_error("--format must be text or json");
  const double tol = parse_number(opt.tol, "--tol");
  const auto max_records = static_cast<size_t>(parse_number(opt.max_records, "--max-records"));

  TraceDiff diff;
  try {
    const Trace a = Trace::load(opt.a);
    const Trace b = Trace::load(opt.b);
    diff = diff_traces(a, b, tol, max_records);
  } catch (const Error& e) {
    std::fprintf(stderr, "trace-diff: error (%s): %s\n", to_string(e.category()), e.what());
    throw CLI::RuntimeError(kExitUsage);
  }
  const std::string json = trace_diff_json(diff).dump(2);
  if (!opt.html.empty()) {
    try {
      report::write_report_file(opt.html, trace_diff_html(json));
    } catch (const Error& e) {
      std::fprintf(stderr, "trace-diff: error (%s): %s\n", to_string(e.category()), e.what());
      throw CLI::RuntimeError(kExitUsage);
    }
  }
  if (opt.format == "json") {
    std::printf("%s\n", json.c_str());
  } else {
    std::fputs(trace_diff_text(diff).c_str(), stdout);
  }
  std::fflush(stdout);
  if (diff.diverged()) throw CLI::RuntimeError(kExitDivergence);
}
}  // namespace

void register_trace_diff(CLI::App& app) {
  auto opt = std::make_shared<TraceDiffOptions>();
  auto* cmd = app.add_subcommand(
      "trace-diff",
      "Compare two per-layer traces and name the first divergent layer and stage "
      "(exit 0 none, 1 divergence, 2 usage or read error)");
  cmd->add_option("a", opt->a,
                  "Trace A: a directory holding one trace-*.jsonl, or the .jsonl file");
  cmd->add_option("b", opt->b, "Trace B, likewise");
  cmd->add_option("--format", opt->format,
                  "text (default) or json (schema: docs/schemas/trace-diff.schema.json)");
  cmd->add_option("--tol", opt->tol,
                  "records with raw data are close when cosine >= 1 - TOL (default 1e-6)");
  cmd->add_option("--max-records", opt->max_records,
                  "list at most N non-identical records in the JSON output (default 1000)");
  cmd->add_option("--html", opt->html,
                  "also write a self-contained HTML page (layer x stage heat map) to FILE");
  cmd->allow_extras();
  cmd->callback([opt, cmd] { run_trace_diff(*opt, cmd->remaining()); });
}

}  // namespace bitnet::tools
