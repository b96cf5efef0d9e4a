// Comparing two traces record by record: which (seq, layer, stage, pos) are identical, numerically
// close, different or missing, and the first divergence in forward order.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trace/trace_reader.hpp"

namespace bitnet {

enum class RecordStatus { identical, close, different, missing_in_a, missing_in_b };
inline constexpr int kRecordStatusCount = 5;

const char* to_string(RecordStatus status);

// Different and missing records are divergences; close ones are not.
inline bool is_divergence(RecordStatus status) {
  return status != RecordStatus::identical && status != RecordStatus::close;
}

struct RecordComparison {
  TraceKey key;
  RecordStatus status = RecordStatus::identical;
  std::optional<double> cosine;        // when both sides saved raw data and the hashes differ
  std::optional<double> max_abs_diff;  // likewise
  std::optional<double> rms_a, rms_b;
  std::string note;  // why it is different when no metric says it (shape, missing data)
};

// One row of the per-layer summary: the embeddings ("input", layer -1), each layer, and
// final_norm + logits ("output", layer -1), over all eval calls and positions.
struct LayerSummary {
  int layer = -1;
  std::string label;  // "input", "0", "1", ..., "output"
  std::array<int64_t, kRecordStatusCount> counts{};
  std::optional<double> min_cosine;
  std::optional<double> max_abs_diff;
  std::optional<RecordComparison> first_divergence;
};

struct TraceSide {
  std::string path;
  int64_t records = 0;
  bool has_data = false;                     // every record carries raw data
  std::vector<std::string> untraced_stages;  // stages the other side traced and this one did not
};

struct TraceDiff {
  double tol = 0;
  TraceSide a, b;
  std::array<int64_t, kRecordStatusCount> totals{};
  // Records whose stage the other side does not trace at all (e.g. a reference that exposes fewer
  // stages): reported, never a divergence.
  int64_t unmatched = 0;
  std::vector<LayerSummary> layers;  // in forward order
  std::optional<RecordComparison> first_divergence;
  std::vector<RecordComparison> non_identical;  // in forward order, at most max_records
  bool non_identical_truncated = false;

  bool diverged() const { return first_divergence.has_value(); }
};

// Records are close when cosine >= 1 - tol (needs raw data on both sides).
TraceDiff diff_traces(const Trace& a, const Trace& b, double tol, size_t max_records = 1000);

// Cosine similarity and max |a - b| in double; cosine of two zero rows is 1, of one zero row 0.
struct RowMetrics {
  double cosine = 0;
  double max_abs_diff = 0;
};
RowMetrics compare_rows(std::span<const float> a, std::span<const float> b);

}  // namespace bitnet
