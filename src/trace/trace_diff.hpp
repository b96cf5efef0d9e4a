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

// filtered_in_a: the record is only in B and A's trace filter (BITNET_TRACE_FILTER) excludes it,
// so A chose not to record it; likewise filtered_in_b.
enum class RecordStatus {
  identical,
  close,
  different,
  missing_in_a,
  missing_in_b,
  filtered_in_a,
  filtered_in_b
};
inline constexpr int kRecordStatusCount = 7;

const char* to_string(RecordStatus status);

// Different and missing records are divergences; close and filtered ones are not.
inline bool is_divergence(RecordStatus status) {
  return status == RecordStatus::different || status == RecordStatus::missing_in_a ||
         status == RecordStatus::missing_in_b;
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

// One cell of the layer x stage map: every record of that (layer, stage) over all eval calls and
// positions that both sides hold.
struct StageCell {
  int layer = -1;  // -1: embeddings, final_norm, logits
  Stage stage = Stage::embeddings;
  int64_t compared = 0;   // records on both sides
  int64_t divergent = 0;  // of which different
  int64_t one_sided = 0;  // missing or filtered on one side
  double mean_rms_a = 0;  // over the compared records with a finite RMS on both sides
  double mean_rms_b = 0;
  // max over those records of |rms_a - rms_b| / rms_b (rms_b = 0: 0 when rms_a is 0 too, else
  // |rms_a|); absent when no record had both RMS values.
  std::optional<double> max_rel_rms_diff;
};

struct TraceSide {
  std::string path;
  std::string filter;  // the run's trace filter spec; empty: everything was recorded
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
  std::vector<StageCell> cells;      // in forward order (layer, then stage)
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
