#include "trace/trace_diff.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace bitnet {
namespace {

std::vector<const TraceRecord*> in_forward_order(const Trace& trace) {
  std::vector<const TraceRecord*> sorted;
  sorted.reserve(trace.records().size());
  for (const auto& r : trace.records()) sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* x, const auto* y) { return x->key < y->key; });
  return sorted;
}

std::set<Stage> traced_stages(const Trace& trace) {
  std::set<Stage> stages;
  for (const auto& r : trace.records()) stages.insert(r.key.stage);
  return stages;
}

TraceSide describe(const Trace& trace, const std::set<Stage>& own, const std::set<Stage>& other) {
  TraceSide side;
  side.path = trace.path().string();
  side.filter = trace.filter().spec();
  side.records = static_cast<int64_t>(trace.records().size());
  side.has_data = !trace.records().empty() &&
                  std::all_of(trace.records().begin(), trace.records().end(),
                              [&](const TraceRecord& r) { return trace.has_data(r); });
  for (const Stage s : other) {
    if (!own.count(s)) side.untraced_stages.emplace_back(to_string(s));
  }
  return side;
}

RecordComparison compare_pair(const Trace& a, const TraceRecord& ra, const Trace& b,
                              const TraceRecord& rb, double tol) {
  RecordComparison c;
  c.key = ra.key;
  c.rms_a = ra.rms;
  c.rms_b = rb.rms;
  if (ra.shape != rb.shape) {
    c.status = RecordStatus::different;
    c.note = "shapes differ: " + std::to_string(ra.n_values) + " vs " +
             std::to_string(rb.n_values) + " values";
    return c;
  }
  if (ra.blake3 == rb.blake3) {
    c.status = RecordStatus::identical;
    return c;
  }
  if (!a.has_data(ra) || !b.has_data(rb)) {
    c.status = RecordStatus::different;
    c.note = "hashes differ; no raw data to measure (BITNET_TRACE_DATA=1 on both runs)";
    return c;
  }
  const RowMetrics m = compare_rows(a.row(ra), b.row(rb));
  c.cosine = m.cosine;
  c.max_abs_diff = m.max_abs_diff;
  // Written so that a NaN cosine (NaN/Inf in a row) counts as different.
  c.status = m.cosine >= 1.0 - tol ? RecordStatus::close : RecordStatus::different;
  return c;
}

std::string layer_label(int64_t rank) {
  if (rank < 0) return "input";
  if (rank == std::numeric_limits<int64_t>::max()) return "output";
  return std::to_string(rank);
}

void add_to_summary(LayerSummary& s, const RecordComparison& c) {
  ++s.counts[static_cast<int>(c.status)];
  if (c.cosine) s.min_cosine = s.min_cosine ? std::min(*s.min_cosine, *c.cosine) : *c.cosine;
  if (c.max_abs_diff) {
    s.max_abs_diff = s.max_abs_diff ? std::max(*s.max_abs_diff, *c.max_abs_diff) : *c.max_abs_diff;
  }
  if (is_divergence(c.status) && !s.first_divergence) s.first_divergence = c;
}

}  // namespace

const char* to_string(RecordStatus status) {
  switch (status) {
    case RecordStatus::identical:
      return "identical";
    case RecordStatus::close:
      return "close";
    case RecordStatus::different:
      return "different";
    case RecordStatus::missing_in_a:
      return "missing_in_a";
    case RecordStatus::missing_in_b:
      return "missing_in_b";
    case RecordStatus::filtered_in_a:
      return "filtered_in_a";
    case RecordStatus::filtered_in_b:
      return "filtered_in_b";
  }
  return "unknown";
}

RowMetrics compare_rows(std::span<const float> a, std::span<const float> b) {
  double dot = 0, norm_a = 0, norm_b = 0, max_abs = 0;
  bool any_nan = false;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    dot += x * y;
    norm_a += x * x;
    norm_b += y * y;
    const double d = std::fabs(x - y);
    if (std::isnan(d)) any_nan = true;
    max_abs = std::max(max_abs, d);
  }
  RowMetrics m;
  // A NaN difference must not vanish from the report.
  m.max_abs_diff = any_nan ? std::numeric_limits<double>::quiet_NaN() : max_abs;
  if (norm_a == 0 && norm_b == 0) {
    m.cosine = 1;
  } else if (norm_a == 0 || norm_b == 0) {
    m.cosine = 0;
  } else {
    m.cosine = dot / (std::sqrt(norm_a) * std::sqrt(norm_b));
  }
  return m;
}

TraceDiff diff_traces(const Trace& a, const Trace& b, double tol, size_t max_records) {
  TraceDiff diff;
  diff.tol = tol;
  const auto stages_a = traced_stages(a), stages_b = traced_stages(b);
  diff.a = describe(a, stages_a, stages_b);
  diff.b = describe(b, stages_b, stages_a);

  std::map<int64_t, LayerSummary> layers;
  struct CellSums {
    StageCell cell;
    int64_t rms_records = 0;
    double sum_a = 0, sum_b = 0;
  };
  std::map<std::pair<int64_t, int>, CellSums> cells;
  auto account = [&](const RecordComparison& c) {
    ++diff.totals[static_cast<int>(c.status)];
    auto& s = layers[c.key.layer_rank()];
    add_to_summary(s, c);
    auto& cell = cells[{c.key.layer_rank(), static_cast<int>(c.key.stage)}];
    cell.cell.layer = c.key.layer;
    cell.cell.stage = c.key.stage;
    const bool both = c.status == RecordStatus::identical || c.status == RecordStatus::close ||
                      c.status == RecordStatus::different;
    if (!both) {
      ++cell.cell.one_sided;
    } else {
      ++cell.cell.compared;
      if (c.status == RecordStatus::different) ++cell.cell.divergent;
      if (c.rms_a && c.rms_b && std::isfinite(*c.rms_a) && std::isfinite(*c.rms_b)) {
        ++cell.rms_records;
        cell.sum_a += *c.rms_a;
        cell.sum_b += *c.rms_b;
        const double d = std::fabs(*c.rms_a - *c.rms_b);
        const double rel = *c.rms_b != 0 ? d / std::fabs(*c.rms_b) : d;
        cell.cell.max_rel_rms_diff = std::max(cell.cell.max_rel_rms_diff.value_or(0.0), rel);
      }
    }
    if (is_divergence(c.status) && !diff.first_divergence) diff.first_divergence = c;
    if (c.status != RecordStatus::identical) {
      if (diff.non_identical.size() < max_records) {
        diff.non_identical.push_back(c);
      } else {
        diff.non_identical_truncated = true;
      }
    }
  };
  auto one_sided = [&](const TraceRecord& r, const std::set<Stage>& other_stages,
                       const TraceFilter& other_filter, RecordStatus status) {
    if (!other_filter.matches(r.key.layer, r.key.stage)) {
      RecordComparison c;
      c.key = r.key;
      c.status = status == RecordStatus::missing_in_b ? RecordStatus::filtered_in_b
                                                      : RecordStatus::filtered_in_a;
      (status == RecordStatus::missing_in_b ? c.rms_a : c.rms_b) = r.rms;
      account(c);
      return;
    }
    if (!other_stages.count(r.key.stage)) {
      ++diff.unmatched;
      return;
    }
    RecordComparison c;
    c.key = r.key;
    c.status = status;
    (status == RecordStatus::missing_in_b ? c.rms_a : c.rms_b) = r.rms;
    account(c);
  };

  const auto sorted_a = in_forward_order(a), sorted_b = in_forward_order(b);
  size_t i = 0, j = 0;
  while (i < sorted_a.size() || j < sorted_b.size()) {
    if (j == sorted_b.size() || (i < sorted_a.size() && sorted_a[i]->key < sorted_b[j]->key)) {
      one_sided(*sorted_a[i++], stages_b, b.filter(), RecordStatus::missing_in_b);
    } else if (i == sorted_a.size() || sorted_b[j]->key < sorted_a[i]->key) {
      one_sided(*sorted_b[j++], stages_a, a.filter(), RecordStatus::missing_in_a);
    } else {
      account(compare_pair(a, *sorted_a[i++], b, *sorted_b[j++], tol));
    }
  }

  for (auto& [rank, summary] : layers) {
    summary.layer =
        rank < 0 || rank == std::numeric_limits<int64_t>::max() ? -1 : static_cast<int>(rank);
    summary.label = layer_label(rank);
    diff.layers.push_back(std::move(summary));
  }
  for (auto& [key, sums] : cells) {
    if (sums.rms_records > 0) {
      sums.cell.mean_rms_a = sums.sum_a / static_cast<double>(sums.rms_records);
      sums.cell.mean_rms_b = sums.sum_b / static_cast<double>(sums.rms_records);
    }
    diff.cells.push_back(sums.cell);
  }
  return diff;
}

}  // namespace bitnet
