// Per-layer traces: a StageObserver that writes one JSON Lines record per (stage, token position)
// of every forward pass, with the row's RMS and the BLAKE3 hash of its float32 bytes, and
// optionally the raw rows in a binary file beside it. docs/crossval.md describes the format;
// `bitnet trace-diff` compares two traces.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "trace/stage.hpp"
#include "trace/trace_filter.hpp"

namespace bitnet {

class TraceRecorder {
 public:
  // Creates `dir` if needed and opens a new run there: `<run_name>.jsonl` (and `<run_name>.bin`
  // with save_data), or, with an empty run_name, the first free `trace-<pid>-<n>.jsonl`. Throws
  // bitnet::Error (io) naming the path on failure, and if a named run already exists. Only the
  // records `filter` matches are written; a filtered run also writes `<run>.meta.json`
  // (`{"filter": SPEC}`) so that trace-diff can tell "filtered out" from "missing".
  TraceRecorder(const std::filesystem::path& dir, bool save_data, const std::string& run_name = {},
                TraceFilter filter = {});

  // BITNET_TRACE_DIR=DIR enables tracing into DIR, BITNET_TRACE_DATA=1 also saves the raw rows,
  // BITNET_TRACE_FILTER=SPEC keeps only the matching records (trace_filter.hpp); nullptr when
  // BITNET_TRACE_DIR is unset or empty.
  static std::unique_ptr<TraceRecorder> from_environment();

  // For a CLI's `--trace DIR`: a recorder into `dir` when it is non-empty (raw rows when save_data
  // or BITNET_TRACE_DATA=1, BITNET_TRACE_FILTER applied), else from_environment().
  static std::unique_ptr<TraceRecorder> from_flag_or_environment(const std::string& dir,
                                                                 bool save_data);

  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;
  ~TraceRecorder();

  // An observer that records into this recorder, which must outlive it. An embeddings tensor
  // starts a new eval call: the first forward pass is seq 0 (prefill), each later one seq 1, 2, ...
  StageObserver observer();

  // Starts the next eval call explicitly, for callers whose one eval runs several forward passes
  // (a prompt split into micro-batches). Once called, embeddings no longer start evals.
  void begin_eval();

  void record(const StageTensor& tensor);

  // Writes buffered records to disk (also done at the start of each eval and on destruction).
  void flush();

  const std::filesystem::path& jsonl_path() const { return jsonl_path_; }
  const std::filesystem::path& data_path() const { return data_path_; }  // empty without save_data
  int64_t records_written() const { return records_; }

 private:
  void write_row(const StageTensor& tensor, int64_t row);
  void write_meta();

  std::mutex mutex_;
  TraceFilter filter_;
  std::filesystem::path jsonl_path_;
  std::filesystem::path data_path_;
  std::string data_name_;
  std::FILE* jsonl_ = nullptr;
  std::FILE* data_ = nullptr;
  int64_t seq_ = -1;
  bool explicit_evals_ = false;
  int64_t records_ = 0;
  uint64_t data_offset_ = 0;
  std::string line_;
};

}  // namespace bitnet
