#include "trace/trace_diff_html.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "report/html_page.hpp"
#include "trace/stage.hpp"

namespace bitnet {
namespace {

using Json = nlohmann::ordered_json;
using report::format_number;
using report::html_escape;
using report::json_number;

// Heat-map row of a (layer, stage): embeddings are the input row, final_norm/logits the output.
std::string row_label(int layer, const std::string& stage) {
  if (layer >= 0) return std::to_string(layer);
  return stage == "embeddings" ? "input" : "output";
}

int stage_rank(const std::string& name) {
  const auto stage = stage_from_string(name);
  return stage ? static_cast<int>(*stage) : 1000;
}

std::string describe(const Json& c) {
  const int layer = c["layer"].get<int>();
  return "seq " + c["seq"].dump() + ", layer " +
         (layer < 0 ? std::string("-") : std::to_string(layer)) + ", stage " +
         c["stage"].get<std::string>() + ", pos " + c["pos"].dump() + " (" +
         c["status"].get<std::string>() + ")";
}

std::string counts_text(const Json& counts) {
  std::string s;
  for (const auto& [key, value] : counts.items()) {
    if (value.get<int64_t>() == 0) continue;
    s += (s.empty() ? "" : ", ") + value.dump() + " " + key;
  }
  return s.empty() ? "none" : s;
}

}  // namespace

std::string trace_diff_html(const std::string& json_text) {
  const Json d = Json::parse(json_text);
  const bool diverged = d["diverged"].get<bool>();
  const auto& first = d["first_divergence"];

  // Rows in forward order (input, 0..n-1, output), columns = the stages present, in stage order.
  std::vector<std::string> rows;
  std::map<std::string, size_t> row_index;
  std::map<int, std::string> columns;  // stage rank -> name
  for (const auto& c : d["cells"]) {
    const std::string label = row_label(c["layer"].get<int>(), c["stage"].get<std::string>());
    if (!row_index.count(label)) {
      row_index[label] = rows.size();
      rows.push_back(label);
    }
    columns[stage_rank(c["stage"].get<std::string>())] = c["stage"].get<std::string>();
  }
  std::vector<std::string> cols;
  std::map<std::string, size_t> col_index;
  for (const auto& [rank, name] : columns) {
    col_index[name] = cols.size();
    cols.push_back(name);
  }

  report::HeatMap map;
  map.id = "heatmap";
  map.title =
      "Relative RMS difference |rms A - rms B| / |rms B| per layer and stage (max over "
      "eval calls and positions)";
  map.row_labels = rows;
  map.col_labels = cols;
  map.values.assign(rows.size() * cols.size(), std::nullopt);
  map.tooltips.assign(rows.size() * cols.size(), "not traced by both sides");
  map.log_lo = -8;
  map.log_hi = 0;
  map.scale_label = "log10 scale, 1e-8 .. 1";
  for (const auto& c : d["cells"]) {
    const std::string stage = c["stage"].get<std::string>();
    const size_t at =
        row_index[row_label(c["layer"].get<int>(), stage)] * cols.size() + col_index[stage];
    map.values[at] = json_number(c, "max_rel_rms_diff");
    map.tooltips[at] = "layer " + row_label(c["layer"].get<int>(), stage) + ", " + stage +
                       ": rel. RMS diff " +
                       format_number(json_number(c, "max_rel_rms_diff"), "%.3g") + ", rms A " +
                       format_number(json_number(c, "mean_rms_a"), "%.6g") + ", rms B " +
                       format_number(json_number(c, "mean_rms_b"), "%.6g") + ", " +
                       c["compared"].dump() + " compared, " + c["divergent"].dump() +
                       " different, " + c["one_sided"].dump() + " one-sided";
  }
  if (first.is_object()) {
    const std::string stage = first["stage"].get<std::string>();
    const std::string label = row_label(first["layer"].get<int>(), stage);
    if (row_index.count(label) && col_index.count(stage))
      map.marker = std::make_pair(row_index[label], col_index[stage]);
    map.marker_label = "first divergence: " + describe(first);
  }

  std::string body = "<h1>trace-diff <span class=\"badge " +
                     std::string(diverged ? "divergent" : "ok") + "\" id=\"status\">" +
                     (diverged ? "diverged" : "no divergence") + "</span></h1>\n";
  body +=
      "<table id=\"sides\"><tr><th>side</th><th>trace</th><th>records</th><th>raw data</th>"
      "<th>filter</th><th>stages it lacks</th></tr>\n";
  for (const char* key : {"a", "b"}) {
    const auto& side = d[key];
    std::string lacks;
    for (const auto& s : side["untraced_stages"])
      lacks += (lacks.empty() ? "" : " ") + s.get<std::string>();
    body += "<tr><td>" + std::string(key[0] == 'a' ? "A" : "B") + "</td><td><code>" +
            html_escape(side["path"].get<std::string>()) + "</code></td><td>" +
            side["records"].dump() + "</td><td>" + (side["has_data"].get<bool>() ? "yes" : "no") +
            "</td><td>" + html_escape(side["filter"].get<std::string>()) + "</td><td>" +
            html_escape(lacks) + "</td></tr>\n";
  }
  body += "</table>\n<p>Close means cosine &ge; 1 - " + format_number(json_number(d, "tol"), "%g") +
          " (needs raw data). Totals: " + html_escape(counts_text(d["totals"])) + "; " +
          d["unmatched"].dump() + " records of stages only one side traces.</p>\n";
  if (first.is_object()) {
    body += "<p id=\"first-divergence\" data-seq=\"" + first["seq"].dump() + "\" data-layer=\"" +
            first["layer"].dump() + "\" data-stage=\"" +
            html_escape(first["stage"].get<std::string>()) + "\" data-pos=\"" +
            first["pos"].dump() + "\">First divergence: <b>" + html_escape(describe(first)) +
            "</b>, outlined in red below.</p>\n";
  } else {
    body += "<p id=\"first-divergence\" data-seq=\"none\">No divergence.</p>\n";
  }
  body += "<h2>Layer x stage</h2>\n" + report::render_heat_map(map);

  body +=
      "<h2>Per-stage RMS of both sides</h2>\n<table id=\"stage-rms\"><tr><th>layer</th>"
      "<th>stage</th><th>mean rms A</th><th>mean rms B</th><th>max rel. diff</th>"
      "<th>compared</th><th>different</th><th>one-sided</th></tr>\n";
  for (const auto& c : d["cells"]) {
    const std::string stage = c["stage"].get<std::string>();
    const bool bad = c["divergent"].get<int64_t>() > 0;
    body += std::string("<tr") + (bad ? " class=\"divergent\"" : "") + "><td>" +
            row_label(c["layer"].get<int>(), stage) + "</td><td>" + html_escape(stage) +
            "</td><td class=\"num\">" + format_number(json_number(c, "mean_rms_a"), "%.6g") +
            "</td><td class=\"num\">" + format_number(json_number(c, "mean_rms_b"), "%.6g") +
            "</td><td class=\"num\">" + format_number(json_number(c, "max_rel_rms_diff"), "%.3g") +
            "</td><td class=\"num\">" + c["compared"].dump() + "</td><td class=\"num\">" +
            c["divergent"].dump() + "</td><td class=\"num\">" + c["one_sided"].dump() +
            "</td></tr>\n";
  }
  body +=
      "</table>\n<h2>Per layer</h2>\n<table id=\"layers\"><tr><th>layer</th><th>records</th>"
      "<th>min cosine</th><th>max |a-b|</th><th>first divergence</th></tr>\n";
  for (const auto& l : d["layers"]) {
    body +=
        "<tr><td>" + html_escape(l["label"].get<std::string>()) + "</td><td>" +
        html_escape(counts_text(l["counts"])) + "</td><td class=\"num\">" +
        format_number(json_number(l, "min_cosine"), "%.9f") + "</td><td class=\"num\">" +
        format_number(json_number(l, "max_abs_diff"), "%.3e") + "</td><td>" +
        (l["first_divergence"].is_object() ? html_escape(describe(l["first_divergence"])) : "-") +
        "</td></tr>\n";
  }
  body +=
      "</table>\n<p>The report's JSON (<code>--format json</code>) is embedded in this page as "
      "<code>#report-data</code>.</p>\n";
  return report::html_page(diverged ? "trace-diff: diverged" : "trace-diff: no divergence", body,
                           json_text);
}

}  // namespace bitnet
