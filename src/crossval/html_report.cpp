#include "crossval/html_report.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "crossval/report.hpp"
#include "report/html_page.hpp"

namespace bitnet::crossval {
namespace {

using Json = nlohmann::ordered_json;
using report::html_escape;
using report::json_number;

std::string text(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "null";
  return j.dump();
}

std::string row(const std::vector<std::string>& cells, bool header = false) {
  std::string s = "<tr>";
  for (const auto& c : cells) s += (header ? "<th>" : "<td>") + c + (header ? "</th>" : "</td>");
  return s + "</tr>\n";
}

std::string side_table(const Json& report) {
  std::string s =
      "<table id=\"sides\">" +
      row({"side", "name", "tokenizer", "add_bos", "parse_special", "tokens", "load (s)"}, true);
  for (const char* key : {"side_a", "side_b"}) {
    const auto& side = report[key];
    s += row({key[5] == 'a' ? "A" : "B", html_escape(text(side["name"])),
              html_escape(text(side["tokenizer"])), text(side["add_bos"]),
              text(side["parse_special"]), std::to_string(side["tokens"].size()),
              report::format_number(json_number(side, "load_s"), "%.3f")});
  }
  return s + "</table>\n";
}

std::string settings_table(const Json& settings) {
  std::string s = "<table id=\"settings\">" + row({"setting", "value"}, true);
  for (const auto& [key, value] : settings.items()) s += row({key, html_escape(text(value))});
  return s + "</table>\n";
}

std::string pre_gate(const Json& report) {
  const auto& mismatch = report["token_mismatch"];
  std::string s = "<h2>Token parity (pre-gate)</h2>\n<p id=\"pre-gate\" data-result=\"";
  if (mismatch.is_null()) {
    s += "pass\">Both sides tokenize the prompt to the same " +
         std::to_string(report["side_a"]["tokens"].size()) + " tokens: pass.</p>\n";
  } else {
    s += "fail\">Token mismatch at index " + text(mismatch["index"]) + ": A has " +
         html_escape(text(mismatch["id_a"])) + " <code>" + html_escape(text(mismatch["piece_a"])) +
         "</code>, B has " + html_escape(text(mismatch["id_b"])) + " <code>" +
         html_escape(text(mismatch["piece_b"])) + "</code>; nothing was evaluated.</p>\n";
  }
  return s;
}

std::string top5_table(const Json& position) {
  const auto& a = position["top5_a"];
  const auto& b = position["top5_b"];
  if (!a.is_array() || !b.is_array()) return "<p>No logits of side B at this position.</p>\n";
  std::string s = "<table id=\"top5\">" +
                  row({"rank", "A id", "A piece", "A logit", "B id", "B piece", "B logit"}, true);
  for (size_t k = 0; k < std::max(a.size(), b.size()); ++k) {
    std::vector<std::string> cells{std::to_string(k + 1)};
    for (const Json* side : {&a, &b}) {
      if (k < side->size()) {
        const auto& e = (*side)[k];
        cells.push_back(text(e["id"]));
        cells.push_back("<code>" + html_escape(text(e["piece"])) + "</code>");
        cells.push_back(report::format_number(json_number(e, "logit"), "%.5g"));
      } else {
        cells.insert(cells.end(), {"", "", ""});
      }
    }
    s += row(cells);
  }
  return s + "</table>\n";
}

std::string positions_table(const Json& positions, const Json& first) {
  std::string s =
      "<table id=\"positions\">" + row({"pos", "token", "piece", "cosine", "KL(B||A)", "max |diff|",
                                        "top-5 overlap", "arg-max A", "arg-max B"},
                                       true);
  for (const auto& p : positions) {
    const bool is_first = first.is_number() && p["index"] == first;
    s += std::string("<tr") +
         (is_first                     ? " class=\"first\""
          : p["divergent"].get<bool>() ? " class=\"divergent\""
                                       : "") +
         ">";
    for (const std::string& c :
         {text(p["index"]) + (p["generated"].get<bool>() ? "g" : ""), text(p["token"]),
          "<code>" + html_escape(text(p["piece"])) + "</code>",
          report::format_number(json_number(p, "cosine"), "%.9f"),
          report::format_number(json_number(p, "kl"), "%.3e"),
          report::format_number(json_number(p, "max_abs_diff"), "%.3e"), text(p["top5_overlap"]),
          text(p["argmax_a"]),
          p["argmax_b"].is_null() ? text(p["expected_token"]) : text(p["argmax_b"])})
      s += "<td>" + c + "</td>";
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

}  // namespace

std::string html_report(const std::string& json_text) {
  const Json r = Json::parse(json_text);
  const std::string status = r["status"].get<std::string>();
  const double cos_tol = r["settings"]["cos_tol"].get<double>();
  const auto& positions = r["positions"];
  const auto& first = r["first_divergent_position"];

  std::string body = "<h1>crossval-per-token <span class=\"badge " + html_escape(status) +
                     "\" id=\"status\">" + html_escape(status) + "</span></h1>\n";
  body += "<p>Model <code>" + html_escape(text(r["settings"]["model"])) +
          "</code>, A = " + html_escape(text(r["settings"]["a"])) +
          ", B = " + html_escape(text(r["settings"]["b"])) + ", prompt <code>" +
          html_escape(text(r["settings"]["prompt"])) + "</code>.</p>\n";
  body += pre_gate(r);
  if (!positions.empty()) {
    std::vector<std::optional<double>> distance, kl, max_diff;
    std::vector<std::string> labels;
    for (const auto& p : positions) {
      const auto cos = json_number(p, "cosine");
      distance.push_back(cos ? std::optional<double>(1.0 - *cos) : std::nullopt);
      kl.push_back(json_number(p, "kl"));
      max_diff.push_back(json_number(p, "max_abs_diff"));
      labels.push_back(printable_piece(p["piece"].get<std::string>(), 12) +
                       (p["generated"].get<bool>() ? " (g)" : ""));
    }
    std::optional<size_t> marker;
    if (first.is_number()) marker = first.get<size_t>();
    const std::string marker_label =
        marker ? "first divergence: position " + std::to_string(*marker) : std::string();
    body += "<h2>Per-position metrics</h2>\n";
    if (marker) {
      body += "<p id=\"first-divergence\" data-position=\"" + std::to_string(*marker) +
              "\">First divergent position: <b>" + std::to_string(*marker) +
              "</b> (the first with cosine &lt; " + report::format_number(cos_tol, "%g") +
              ").</p>\n";
    } else {
      body += "<p id=\"first-divergence\" data-position=\"none\">All " +
              std::to_string(positions.size()) + " positions within cos-tol " +
              report::format_number(cos_tol, "%g") + ".</p>\n";
    }
    report::LineChart chart;
    chart.x_labels = labels;
    chart.marker = marker;
    chart.marker_label = marker_label;
    chart.id = "chart-cosine";
    chart.title = "Cosine distance 1 - cos(A, B) per position (log scale; 0 drawn at 1e-12)";
    chart.y_label = "1 - cosine";
    chart.values = distance;
    chart.threshold = 1.0 - cos_tol;
    chart.threshold_label = "tolerance 1 - " + report::format_number(cos_tol, "%g");
    body += report::render_line_chart(chart);
    chart.id = "chart-kl";
    chart.title = "KL(softmax(B) || softmax(A)) per position, nats (log scale)";
    chart.y_label = "KL";
    chart.values = kl;
    chart.threshold.reset();
    body += report::render_line_chart(chart);
    chart.id = "chart-max-diff";
    chart.title = "max |logit A - logit B| per position (log scale)";
    chart.y_label = "max |diff|";
    chart.values = max_diff;
    body += report::render_line_chart(chart);
    if (marker && *marker < positions.size()) {
      body += "<h2>Top-5 at the first divergent position (" + std::to_string(*marker) + ")</h2>\n";
      body += top5_table(positions[*marker]);
    }
    body += "<h2>Positions</h2>\n" + positions_table(positions, first);
  }
  body += "<h2>Sides</h2>\n" + side_table(r);
  body += "<h2>Settings</h2>\n" + settings_table(r["settings"]);
  body += "<p>Timing: " + html_escape(r["timing"].dump()) +
          ". The report's JSON (<code>--format json</code>) is embedded in this page as "
          "<code>#report-data</code>.</p>\n";
  return report::html_page("crossval-per-token: " + status, body, json_text);
}

}  // namespace bitnet::crossval
