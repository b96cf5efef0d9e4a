// Building blocks of the self-contained HTML reports (crossval-per-token --html, trace-diff
// --html): escaping, the page frame with the report's JSON embedded, and two SVG charts drawn
// here (no script, no network). Each report page is a pure function of its JSON document, so the
// page and `--format json` cannot disagree.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bitnet::report {

std::string html_escape(std::string_view text);

// A complete page: `title`, the inline style, `body`, and `json` in
// <script type="application/json" id="report-data"> ('<' written as \u003c, so no text in it can
// close the element).
std::string html_page(std::string_view title, std::string_view body, std::string_view json);

// A line chart over positions 0..n-1: one value per position (nullopt = no point there).
struct LineChart {
  std::string id;  // the <svg> element's id
  std::string title;
  std::string y_label;
  std::vector<std::optional<double>> values;
  std::vector<std::string> x_labels;  // one per position: printed under the axis
  bool log_scale = true;
  double log_floor = 1e-12;  // log scale: values at or below it are drawn on the floor
  std::optional<double> threshold;
  std::string threshold_label;
  std::optional<size_t> marker;  // a position to mark (the first divergence)
  std::string marker_label;
};
std::string render_line_chart(const LineChart& chart);

// A heat map of rows x cols cells, coloured by log10(value) from log_lo to log_hi (a stated scale
// bar beside it); 0 gets its own "identical" colour, nullopt a grey "not compared" one.
struct HeatMap {
  std::string id;
  std::string title;
  std::vector<std::string> row_labels;
  std::vector<std::string> col_labels;
  std::vector<std::optional<double>> values;  // row-major
  std::vector<std::string> tooltips;          // per cell, may be empty
  double log_lo = -8;
  double log_hi = 0;
  std::string scale_label;
  std::optional<std::pair<size_t, size_t>> marker;  // (row, col) to outline
  std::string marker_label;
};
std::string render_heat_map(const HeatMap& map);

// Writes `content` to `path` through `path.tmp` and a rename, so a reader never sees half a page.
// Throws bitnet::Error (io) naming the path.
void write_report_file(const std::string& path, std::string_view content);

// j[key] when it is a number; nullopt when absent or null (the reports write NaN/Inf as null).
std::optional<double> json_number(const nlohmann::ordered_json& j, const char* key);

// "1.23e-05" style, or "-" for nullopt.
std::string format_number(std::optional<double> value, const char* format = "%.4g");

}  // namespace bitnet::report
