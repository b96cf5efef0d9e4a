#include "trace/trace_diff_report.hpp"

#include <cmath>
#include <cstdio>

namespace bitnet {
namespace {

// Keys in the order a reader wants them (summary first), not sorted.
using json = nlohmann::ordered_json;

std::string format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

std::string optional_number(const std::optional<double>& v, const char* fmt) {
  return v ? format(fmt, *v) : std::string("-");
}

int64_t count(const std::array<int64_t, kRecordStatusCount>& counts, RecordStatus status) {
  return counts[static_cast<int>(status)];
}

int64_t missing(const std::array<int64_t, kRecordStatusCount>& counts) {
  return count(counts, RecordStatus::missing_in_a) + count(counts, RecordStatus::missing_in_b);
}

std::string describe_comparison(const RecordComparison& c) {
  std::string s = describe_key(c.key) + ": " + to_string(c.status);
  std::string details;
  auto add = [&](const std::string& part) { details += (details.empty() ? "" : ", ") + part; };
  if (c.cosine) add("cosine " + format("%.9g", *c.cosine));
  if (c.max_abs_diff) add("max |a-b| " + format("%.6g", *c.max_abs_diff));
  if (c.rms_a || c.rms_b) {
    add("rms " + optional_number(c.rms_a, "%.6g") + " vs " + optional_number(c.rms_b, "%.6g"));
  }
  if (!c.note.empty()) add(c.note);
  if (!details.empty()) s += " (" + details + ")";
  return s;
}

json optional_json(const std::optional<double>& v) {
  // JSON has no NaN/Inf: a non-finite metric is written as null like an absent one.
  return v && std::isfinite(*v) ? json(*v) : json(nullptr);
}

json comparison_json(const RecordComparison& c) {
  return json{{"seq", c.key.seq},
              {"layer", c.key.layer},
              {"stage", std::string(to_string(c.key.stage))},
              {"pos", c.key.pos},
              {"status", to_string(c.status)},
              {"cosine", optional_json(c.cosine)},
              {"max_abs_diff", optional_json(c.max_abs_diff)},
              {"rms_a", optional_json(c.rms_a)},
              {"rms_b", optional_json(c.rms_b)},
              {"note", c.note}};
}

json counts_json(const std::array<int64_t, kRecordStatusCount>& counts) {
  json j = json::object();
  for (int s = 0; s < kRecordStatusCount; ++s)
    j[to_string(static_cast<RecordStatus>(s))] = counts[s];
  return j;
}

json cell_json(const StageCell& c) {
  const bool rms = c.max_rel_rms_diff.has_value();
  return json{{"layer", c.layer},
              {"stage", std::string(to_string(c.stage))},
              {"compared", c.compared},
              {"divergent", c.divergent},
              {"one_sided", c.one_sided},
              {"mean_rms_a", rms ? optional_json(c.mean_rms_a) : json(nullptr)},
              {"mean_rms_b", rms ? optional_json(c.mean_rms_b) : json(nullptr)},
              {"max_rel_rms_diff", optional_json(c.max_rel_rms_diff)}};
}

int64_t filtered(const std::array<int64_t, kRecordStatusCount>& counts) {
  return count(counts, RecordStatus::filtered_in_a) + count(counts, RecordStatus::filtered_in_b);
}

json side_json(const TraceSide& side) {
  return json{{"path", side.path},
              {"filter", side.filter},
              {"records", side.records},
              {"has_data", side.has_data},
              {"untraced_stages", side.untraced_stages}};
}

}  // namespace

std::string describe_key(const TraceKey& key) {
  const std::string layer = key.layer < 0 ? std::string("-") : std::to_string(key.layer);
  return "seq " + std::to_string(key.seq) + ", layer " + layer + ", stage " +
         std::string(to_string(key.stage)) + ", pos " + std::to_string(key.pos);
}

std::string trace_diff_text(const TraceDiff& diff) {
  std::string out;
  char line[512];
  // Paths can be long: no fixed-size buffer here.
  auto side_line = [&](const char* name, const TraceSide& side) {
    out += std::string(name) + ": " + side.path + " (" + std::to_string(side.records) +
           " records, raw data: " + (side.has_data ? "yes" : "no") +
           (side.filter.empty() ? std::string() : ", filter " + side.filter) + ")\n";
  };
  side_line("A", diff.a);
  side_line("B", diff.b);
  out += "close means cosine >= 1 - " + format("%g", diff.tol) + "\n\n";

  std::snprintf(line, sizeof line, "%-7s %10s %8s %10s %8s %8s %12s %10s  %s\n", "layer",
                "identical", "close", "different", "missing", "filtered", "min cosine", "max |a-b|",
                "first divergence");
  out += line;
  for (const auto& s : diff.layers) {
    std::string first = "-";
    if (s.first_divergence) {
      const auto& k = s.first_divergence->key;
      first = "seq " + std::to_string(k.seq) + " " + std::string(to_string(k.stage)) + " pos " +
              std::to_string(k.pos);
    }
    std::snprintf(line, sizeof line, "%-7s %10lld %8lld %10lld %8lld %8lld %12s %10s  %s\n",
                  s.label.c_str(), static_cast<long long>(count(s.counts, RecordStatus::identical)),
                  static_cast<long long>(count(s.counts, RecordStatus::close)),
                  static_cast<long long>(count(s.counts, RecordStatus::different)),
                  static_cast<long long>(missing(s.counts)),
                  static_cast<long long>(filtered(s.counts)),
                  optional_number(s.min_cosine, "%.9f").c_str(),
                  optional_number(s.max_abs_diff, "%.3e").c_str(), first.c_str());
    out += line;
  }
  out += "\n";
  auto untraced_line = [&](const char* traced_by, const TraceSide& other) {
    if (other.untraced_stages.empty()) return;
    out += "stages traced only by " + std::string(traced_by) + ":";
    for (const auto& s : other.untraced_stages) out += " " + s;
    out += "\n";
  };
  untraced_line("A", diff.b);
  untraced_line("B", diff.a);
  if (diff.unmatched > 0) {
    out += std::to_string(diff.unmatched) +
           " records of such stages have no counterpart and were not compared\n";
  }

  if (const int64_t n = filtered(diff.totals); n > 0) {
    out += std::to_string(n) +
           " records were filtered out by one side's trace filter (not compared, not missing)\n";
  }
  if (diff.first_divergence) {
    out += "first divergence: " + describe_comparison(*diff.first_divergence) + "\n";
  } else {
    out += "no divergence: " + std::to_string(count(diff.totals, RecordStatus::identical)) +
           " identical, " + std::to_string(count(diff.totals, RecordStatus::close)) + " close\n";
  }
  return out;
}

nlohmann::ordered_json trace_diff_json(const TraceDiff& diff) {
  json layers = json::array();
  for (const auto& s : diff.layers) {
    layers.push_back(
        json{{"layer", s.layer},
             {"label", s.label},
             {"counts", counts_json(s.counts)},
             {"min_cosine", optional_json(s.min_cosine)},
             {"max_abs_diff", optional_json(s.max_abs_diff)},
             {"first_divergence",
              s.first_divergence ? comparison_json(*s.first_divergence) : json(nullptr)}});
  }
  json cells = json::array();
  for (const auto& c : diff.cells) cells.push_back(cell_json(c));
  json records = json::array();
  for (const auto& c : diff.non_identical) records.push_back(comparison_json(c));
  return json{{"format", "bitnet-trace-diff"},
              {"version", 1},
              {"a", side_json(diff.a)},
              {"b", side_json(diff.b)},
              {"tol", diff.tol},
              {"diverged", diff.diverged()},
              {"totals", counts_json(diff.totals)},
              {"unmatched", diff.unmatched},
              {"first_divergence",
               diff.first_divergence ? comparison_json(*diff.first_divergence) : json(nullptr)},
              {"layers", layers},
              {"cells", cells},
              {"records", records},
              {"records_truncated", diff.non_identical_truncated}};
}

}  // namespace bitnet
