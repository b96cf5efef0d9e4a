#include "report/html_page.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "bitnet/error.hpp"

namespace bitnet::report {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2330;max-width:1400px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #d5d9e0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}
.ok{background:#2e7d32}.divergent{background:#c62828}.token_mismatch{background:#ef6c00}
.chart{overflow-x:auto;margin:4px 0 16px}svg text{font-size:11px;fill:#333}
svg .axis{stroke:#555;stroke-width:1}svg .grid{stroke:#e3e6eb;stroke-width:1}
svg .series{fill:none;stroke:#1565c0;stroke-width:1.6}svg .point{fill:#1565c0}
svg .tolerance{stroke:#ef6c00;stroke-width:1.2;stroke-dasharray:6 4}
svg .first-divergence{stroke:#c62828;stroke-width:1.6}svg .marker-cell{fill:none;stroke:#c62828;stroke-width:3}
tr.divergent td{background:#fdecea}tr.first td{background:#f9c7c2}
code{background:#f2f4f7;padding:0 3px}
)";

// Viridis-like ramp through five stops, t in [0, 1].
std::string ramp_colour(double t) {
  static constexpr double stops[5][3] = {
      {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(t, 0.0, 1.0) * 4.0;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x",
                static_cast<int>(stops[i][0] + f * (stops[i + 1][0] - stops[i][0]) + 0.5),
                static_cast<int>(stops[i][1] + f * (stops[i + 1][1] - stops[i][1]) + 0.5),
                static_cast<int>(stops[i][2] + f * (stops[i + 1][2] - stops[i][2]) + 0.5));
  return buf;
}

constexpr const char* kIdenticalColour = "#e8f5e9";
constexpr const char* kNotComparedColour = "#bdbdbd";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::optional<double> json_number(const nlohmann::ordered_json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

std::string format_number(std::optional<double> value, const char* format) {
  if (!value) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, format, *value);
  return buf;
}

void write_report_file(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr)
    throw Error(ErrorCategory::io, "cannot create " + tmp + ": " + std::strerror(errno));
  const bool written = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  if (std::fclose(f) != 0 || !written) {
    std::remove(tmp.c_str());
    throw Error(ErrorCategory::io, "cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(ErrorCategory::io, "cannot rename " + tmp + " to " + path + ": " + why);
  }
}

std::string html_page(std::string_view title, std::string_view body, std::string_view json) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>";
  out += html_escape(title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style></head>\n<body>\n";
  out += body;
  out += "\n<script type=\"application/json\" id=\"report-data\">";
  for (const char c : json) {
    if (c == '<') {
      out += "\\u003c";  // '<' occurs only inside JSON strings, where \u003c means the same
    } else {
      out += c;
    }
  }
  out += "</script>\n</body></html>\n";
  return out;
}

std::string render_line_chart(const LineChart& c) {
  const size_t n = c.values.size();
  const double left = 70, right = 20, top = 28, plot_h = 220;
  const double label_h = 90;  // rotated token pieces
  const double step = n > 1 ? std::max(14.0, 860.0 / static_cast<double>(n - 1)) : 0;
  const double plot_w = std::max(300.0, step * static_cast<double>(n > 1 ? n - 1 : 1));
  const double width = left + plot_w + right, height = top + plot_h + label_h + 20;

  auto transform = [&](double v) { return c.log_scale ? std::log10(std::max(v, c.log_floor)) : v; };
  double lo = 0, hi = 0;
  bool any = false;
  auto include = [&](double t) {
    lo = any ? std::min(lo, t) : t;
    hi = any ? std::max(hi, t) : t;
    any = true;
  };
  for (const auto& v : c.values)
    if (v && std::isfinite(*v)) include(transform(*v));
  if (c.threshold) include(transform(*c.threshold));
  if (!any) lo = 0, hi = 1;
  if (c.log_scale) {
    lo = std::floor(lo);
    hi = std::ceil(hi);
    if (hi - lo < 1) hi = lo + 1;
  } else {
    if (lo > 0) lo = 0;
    if (hi <= lo) hi = lo + 1;
    hi += (hi - lo) * 0.08;
  }
  auto y_of = [&](double t) { return top + plot_h - (t - lo) / (hi - lo) * plot_h; };
  auto x_of = [&](size_t i) { return left + (n > 1 ? step * static_cast<double>(i) : plot_w / 2); };

  std::string s = "<div class=\"chart\"><svg id=\"" + html_escape(c.id) +
                  "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
                  num(height) + "\" data-points=\"" + std::to_string(n) + "\"";
  if (c.marker) s += " data-first-divergence=\"" + std::to_string(*c.marker) + "\"";
  s += ">\n<text x=\"" + num(left) + "\" y=\"16\" style=\"font-size:13px;font-weight:600\">" +
       html_escape(c.title) + "</text>\n";
  // Y grid and labels: decades on a log scale, five steps otherwise.
  const int ticks = c.log_scale ? static_cast<int>(hi - lo) : 5;
  const int every = c.log_scale ? std::max(1, ticks / 8) : 1;
  for (int k = 0; k <= ticks; k += every) {
    const double t = lo + (hi - lo) * k / ticks;
    const double y = y_of(t);
    s += "<line class=\"grid\" x1=\"" + num(left) + "\" x2=\"" + num(left + plot_w) + "\" y1=\"" +
         num(y) + "\" y2=\"" + num(y) + "\"/>";
    char label[32];
    if (c.log_scale) {
      std::snprintf(label, sizeof label, "1e%d", static_cast<int>(std::lround(t)));
    } else {
      std::snprintf(label, sizeof label, "%.3g", t);
    }
    s += "<text x=\"" + num(left - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" + label +
         "</text>\n";
  }
  s += "<text transform=\"translate(14," + num(top + plot_h / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + html_escape(c.y_label) + "</text>\n";
  s += "<line class=\"axis\" x1=\"" + num(left) + "\" x2=\"" + num(left) + "\" y1=\"" + num(top) +
       "\" y2=\"" + num(top + plot_h) + "\"/><line class=\"axis\" x1=\"" + num(left) + "\" x2=\"" +
       num(left + plot_w) + "\" y1=\"" + num(top + plot_h) + "\" y2=\"" + num(top + plot_h) +
       "\"/>\n";
  // X labels: every position up to 120, then a stride.
  const size_t stride = n > 120 ? (n + 119) / 120 : 1;
  for (size_t i = 0; i < n; i += stride) {
    const double x = x_of(i);
    const std::string label =
        std::to_string(i) + (i < c.x_labels.size() ? " " + c.x_labels[i] : std::string());
    s += "<text class=\"xlabel\" data-position=\"" + std::to_string(i) +
         "\" transform=\"translate(" + num(x + 3) + "," + num(top + plot_h + 8) +
         ") rotate(60)\">" + html_escape(label) + "</text>";
  }
  s += "\n";
  if (c.threshold) {
    const double y = y_of(transform(*c.threshold));
    s += "<line class=\"tolerance\" x1=\"" + num(left) + "\" x2=\"" + num(left + plot_w) +
         "\" y1=\"" + num(y) + "\" y2=\"" + num(y) + "\"/><text x=\"" + num(left + plot_w - 4) +
         "\" y=\"" + num(y - 4) + "\" text-anchor=\"end\" style=\"fill:#ef6c00\">" +
         html_escape(c.threshold_label) + "</text>\n";
  }
  if (c.marker && *c.marker < n) {
    const double x = x_of(*c.marker);
    s += "<line class=\"first-divergence\" data-position=\"" + std::to_string(*c.marker) +
         "\" x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(top) + "\" y2=\"" +
         num(top + plot_h) + "\"/><text x=\"" + num(x + 4) + "\" y=\"" + num(top + 12) +
         "\" style=\"fill:#c62828\">" + html_escape(c.marker_label) + "</text>\n";
  }
  // The series: segments between consecutive present points, a dot on each.
  std::string path;
  bool pen_down = false;
  std::string dots;
  for (size_t i = 0; i < n; ++i) {
    const auto& v = c.values[i];
    if (!v || !std::isfinite(*v)) {
      pen_down = false;
      continue;
    }
    const double x = x_of(i), y = y_of(transform(*v));
    path += (pen_down ? "L" : "M") + num(x) + " " + num(y) + " ";
    pen_down = true;
    dots += "<circle class=\"point\" data-position=\"" + std::to_string(i) + "\" cx=\"" + num(x) +
            "\" cy=\"" + num(y) + "\" r=\"2.6\"><title>" + std::to_string(i) + ": " +
            format_number(*v, "%.6g") + "</title></circle>";
  }
  if (!path.empty()) s += "<path class=\"series\" d=\"" + path + "\"/>\n";
  s += dots + "\n</svg></div>\n";
  return s;
}

std::string render_heat_map(const HeatMap& m) {
  const size_t rows = m.row_labels.size(), cols = m.col_labels.size();
  const double cell_w = 44, cell_h = 18, left = 110, top = 110, legend_w = 140;
  const double width = left + cell_w * static_cast<double>(cols) + 30 + legend_w;
  const double height = std::max(top + cell_h * static_cast<double>(rows) + 20, top + 260.0);
  std::string s = "<div class=\"chart\"><svg id=\"" + html_escape(m.id) +
                  "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
                  num(height) + "\" data-rows=\"" + std::to_string(rows) + "\" data-cols=\"" +
                  std::to_string(cols) + "\"";
  if (m.marker) {
    s += " data-marker-row=\"" + std::to_string(m.marker->first) + "\" data-marker-col=\"" +
         std::to_string(m.marker->second) + "\"";
  }
  s += ">\n<text x=\"4\" y=\"16\" style=\"font-size:13px;font-weight:600\">" +
       html_escape(m.title) + "</text>\n";
  for (size_t c = 0; c < cols; ++c) {
    s += "<text transform=\"translate(" + num(left + cell_w * static_cast<double>(c) + 14) + "," +
         num(top - 6) + ") rotate(-60)\">" + html_escape(m.col_labels[c]) + "</text>";
  }
  for (size_t r = 0; r < rows; ++r) {
    const double y = top + cell_h * static_cast<double>(r);
    s += "\n<text x=\"" + num(left - 6) + "\" y=\"" + num(y + 13) + "\" text-anchor=\"end\">" +
         html_escape(m.row_labels[r]) + "</text>";
    for (size_t c = 0; c < cols; ++c) {
      const size_t at = r * cols + c;
      const auto v = at < m.values.size() ? m.values[at] : std::nullopt;
      std::string fill = kNotComparedColour;
      if (v && *v <= 0) fill = kIdenticalColour;
      if (v && *v > 0) fill = ramp_colour((std::log10(*v) - m.log_lo) / (m.log_hi - m.log_lo));
      s += "<rect class=\"cell\" data-row=\"" + std::to_string(r) + "\" data-col=\"" +
           std::to_string(c) + "\" x=\"" + num(left + cell_w * static_cast<double>(c)) + "\" y=\"" +
           num(y) + "\" width=\"" + num(cell_w - 1) + "\" height=\"" + num(cell_h - 1) +
           "\" fill=\"" + fill + "\"><title>" +
           html_escape(at < m.tooltips.size() ? m.tooltips[at] : format_number(v, "%.3g")) +
           "</title></rect>";
    }
  }
  if (m.marker && m.marker->first < rows && m.marker->second < cols) {
    s += "\n<rect class=\"marker-cell\" data-row=\"" + std::to_string(m.marker->first) +
         "\" data-col=\"" + std::to_string(m.marker->second) + "\" x=\"" +
         num(left + cell_w * static_cast<double>(m.marker->second) - 1) + "\" y=\"" +
         num(top + cell_h * static_cast<double>(m.marker->first) - 1) + "\" width=\"" +
         num(cell_w + 1) + "\" height=\"" + num(cell_h + 1) + "\"><title>" +
         html_escape(m.marker_label) + "</title></rect>";
  }
  // The colour scale, stated: a vertical bar from log_hi (top) to log_lo, plus the two specials.
  const double lx = left + cell_w * static_cast<double>(cols) + 30, ly = top, lh = 160;
  s += "\n<text x=\"" + num(lx) + "\" y=\"" + num(ly - 10) + "\">" + html_escape(m.scale_label) +
       "</text>";
  const int bands = 32;
  for (int b = 0; b < bands; ++b) {
    const double t = 1.0 - (b + 0.5) / bands;
    s += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly + lh * b / bands) +
         "\" width=\"16\" height=\"" + num(lh / bands + 0.5) + "\" fill=\"" + ramp_colour(t) +
         "\"/>";
  }
  for (int k = 0; k <= 4; ++k) {
    const double e = m.log_hi - (m.log_hi - m.log_lo) * k / 4;
    char label[24];
    std::snprintf(label, sizeof label, "%s1e%d",
                  k == 0   ? "\u2265 "
                  : k == 4 ? "\u2264 "
                           : "",
                  static_cast<int>(std::lround(e)));
    s += "<text x=\"" + num(lx + 22) + "\" y=\"" + num(ly + lh * k / 4 + 4) + "\">" + label +
         "</text>";
  }
  s += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly + lh + 14) +
       "\" width=\"16\" height=\"12\" fill=\"" + kIdenticalColour +
       "\" stroke=\"#999\"/><text x=\"" + num(lx + 22) + "\" y=\"" + num(ly + lh + 24) +
       "\">0 (same RMS)</text>";
  s += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly + lh + 32) +
       "\" width=\"16\" height=\"12\" fill=\"" + kNotComparedColour + "\"/><text x=\"" +
       num(lx + 22) + "\" y=\"" + num(ly + lh + 42) + "\">not compared</text>";
  s += "\n</svg></div>\n";
  return s;
}

}  // namespace bitnet::report
