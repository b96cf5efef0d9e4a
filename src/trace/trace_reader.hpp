// Reading a trace written by TraceRecorder (or by any tool following docs/crossval.md): validated
// records, and the raw float32 rows when the run saved them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "common/mapped_file.hpp"
#include "trace/stage.hpp"
#include "trace/trace_filter.hpp"

namespace bitnet {

// Where a record sits in a run; ordering is forward order: eval call, then embeddings before the
// layers before final_norm/logits, then stage order within a layer, then token position.
struct TraceKey {
  int64_t seq = 0;
  int layer = -1;
  Stage stage = Stage::embeddings;
  int64_t pos = 0;

  // -1 for embeddings, the layer for layer stages, a value after every layer for final_norm/logits.
  int64_t layer_rank() const;
  auto order_tuple() const {
    return std::make_tuple(seq, layer_rank(), static_cast<int>(stage), pos);
  }
  bool operator<(const TraceKey& other) const { return order_tuple() < other.order_tuple(); }
  bool operator==(const TraceKey& other) const { return order_tuple() == other.order_tuple(); }
};

// True for the stages reported with layer -1 (embeddings, final_norm, logits).
bool is_model_level_stage(Stage stage);

struct TraceRecord {
  TraceKey key;
  int64_t n_values = 0;                  // product of "shape"
  std::vector<int64_t> shape;            // as recorded
  std::optional<double> rms;             // null in the file when the row holds NaN/Inf
  std::string blake3;                    // 64 lowercase hex digits
  std::optional<std::string> data_file;  // file name beside the .jsonl, with "data"
  uint64_t data_offset = 0;
  int64_t line = 0;  // 1-based line in the .jsonl, for messages
};

class Trace {
 public:
  // `path` is a .jsonl file or a directory holding exactly one. Throws bitnet::Error (io) with the
  // file and line of the first malformed record, a duplicate (seq, layer, stage, pos), or raw data
  // that lies outside its .bin file.
  static Trace load(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TraceRecord>& records() const { return records_; }  // in file order
  bool has_data(const TraceRecord& record) const { return record.data_file.has_value(); }
  // The record's raw float32 row; empty when the run saved no data.
  std::span<const float> row(const TraceRecord& record) const;
  // The filter the run recorded with (`<run>.meta.json` beside the .jsonl); keeps everything when
  // the run was not filtered.
  const TraceFilter& filter() const { return filter_; }

 private:
  std::filesystem::path path_;
  std::vector<TraceRecord> records_;
  TraceFilter filter_;
  std::map<std::string, MappedFile> data_files_;
};

// The trace files (*.jsonl) directly in `dir`, sorted by name.
std::vector<std::filesystem::path> find_trace_files(const std::filesystem::path& dir);

}  // namespace bitnet
