#include "trace/trace_recorder.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "bitnet/error.hpp"
#include "trace/blake3.hpp"

namespace bitnet {
namespace {

[[noreturn]] void throw_io(const std::string& what, const std::filesystem::path& path) {
  throw Error(ErrorCategory::io,
              "trace: " + what + " " + path.string() + ": " + std::strerror(errno));
}

// fopen "x" mode: fails with EEXIST instead of overwriting another run's trace.
std::FILE* create_exclusive(const std::filesystem::path& path) {
  return std::fopen(path.c_str(), "wbx");
}

void append_number(std::string& out, double value) {
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.9g", value);
  out.append(buf, static_cast<size_t>(n));
}

void append_integer(std::string& out, int64_t value) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(value));
  out.append(buf, static_cast<size_t>(n));
}

// BITNET_TRACE_DATA: any value but empty or "0".
bool data_requested_by_environment() {
  const char* data = std::getenv("BITNET_TRACE_DATA");
  return data && *data && std::string_view(data) != "0";
}

// BITNET_TRACE_FILTER, or everything.
TraceFilter environment_filter() {
  return TraceFilter::from_environment().value_or(TraceFilter());
}

}  // namespace

TraceRecorder::TraceRecorder(const std::filesystem::path& dir, bool save_data,
                             const std::string& run_name, TraceFilter filter)
    : filter_(std::move(filter)) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw Error(ErrorCategory::io,
                "trace: cannot create directory " + dir.string() + ": " + ec.message());
  }
  if (!run_name.empty()) {
    // The name goes into every record unescaped and must stay inside `dir`.
    for (const char c : run_name) {
      if (c == '/' || c == '\\' || c == '"' || static_cast<unsigned char>(c) < 0x20) {
        throw Error(ErrorCategory::config,
                    "trace: run name '" + run_name + "' must be a plain file name");
      }
    }
    jsonl_path_ = dir / (run_name + ".jsonl");
    jsonl_ = create_exclusive(jsonl_path_);
    if (!jsonl_) throw_io("cannot create", jsonl_path_);
  } else {
    const std::string prefix = "trace-" + std::to_string(::getpid()) + "-";
    for (int n = 0; !jsonl_; ++n) {
      jsonl_path_ = dir / (prefix + std::to_string(n) + ".jsonl");
      jsonl_ = create_exclusive(jsonl_path_);
      if (!jsonl_ && errno != EEXIST) throw_io("cannot create", jsonl_path_);
    }
  }
  if (!filter_.keeps_everything()) write_meta();
  if (save_data) {
    data_path_ = jsonl_path_;
    data_path_.replace_extension(".bin");
    data_name_ = data_path_.filename().string();
    data_ = create_exclusive(data_path_);
    if (!data_) {
      const int saved = errno;
      std::fclose(jsonl_);
      errno = saved;
      throw_io("cannot create", data_path_);
    }
  }
}

std::unique_ptr<TraceRecorder> TraceRecorder::from_environment() {
  const char* dir = std::getenv("BITNET_TRACE_DIR");
  if (!dir || !*dir) return nullptr;
  return std::make_unique<TraceRecorder>(dir, data_requested_by_environment(), std::string(),
                                         environment_filter());
}

std::unique_ptr<TraceRecorder> TraceRecorder::from_flag_or_environment(const std::string& dir,
                                                                       bool save_data) {
  if (dir.empty()) return from_environment();
  return std::make_unique<TraceRecorder>(dir, save_data || data_requested_by_environment(),
                                         std::string(), environment_filter());
}

// `<run>.meta.json` beside the records: the filter, as JSON (the spec's characters are limited to
// what TraceFilter::parse accepts, but escape anyway).
void TraceRecorder::write_meta() {
  auto meta_path = jsonl_path_;
  meta_path.replace_extension(".meta.json");
  std::string text = "{\"filter\":\"";
  for (const char c : filter_.spec()) {
    if (c == '"' || c == '\\') text += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) text += c;
  }
  text += "\"}\n";
  std::FILE* f = std::fopen(meta_path.c_str(), "wb");
  if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) {
    if (f) std::fclose(f);
    throw_io("cannot write", meta_path);
  }
}

TraceRecorder::~TraceRecorder() {
  if (jsonl_) std::fclose(jsonl_);
  if (data_) std::fclose(data_);
}

StageObserver TraceRecorder::observer() {
  return [this](const StageTensor& tensor) { record(tensor); };
}

void TraceRecorder::flush() {
  if (std::fflush(jsonl_) != 0) throw_io("cannot write", jsonl_path_);
  if (data_ && std::fflush(data_) != 0) throw_io("cannot write", data_path_);
}

void TraceRecorder::begin_eval() {
  std::lock_guard lock(mutex_);
  explicit_evals_ = true;
  if (seq_ >= 0) flush();
  ++seq_;
}

void TraceRecorder::record(const StageTensor& tensor) {
  std::lock_guard lock(mutex_);
  if (tensor.stage == Stage::embeddings && !explicit_evals_) {
    if (seq_ >= 0) flush();
    ++seq_;
  }
  // Stages reported before any embeddings (an observer attached mid-pass) still belong to eval 0.
  if (seq_ < 0) seq_ = 0;
  if (!filter_.matches(tensor.layer, tensor.stage)) return;
  if (tensor.cols <= 0) return;  // nothing to hash; the format's shapes are positive
  for (int64_t row = 0; row < tensor.rows; ++row) write_row(tensor, row);
}

void TraceRecorder::write_row(const StageTensor& tensor, int64_t row) {
  const float* values = tensor.data + row * tensor.cols;
  const size_t nbytes = static_cast<size_t>(tensor.cols) * sizeof(float);
  double sum_squares = 0.0;
  int64_t nonfinite = 0;
  for (int64_t i = 0; i < tensor.cols; ++i) {
    const double x = values[i];
    if (!std::isfinite(x)) ++nonfinite;
    sum_squares += x * x;
  }

  line_.clear();
  line_ += "{\"seq\":";
  append_integer(line_, seq_);
  line_ += ",\"layer\":";
  append_integer(line_, tensor.layer);
  line_ += ",\"stage\":\"";
  line_ += to_string(tensor.stage);
  line_ += "\",\"pos\":";
  append_integer(line_, tensor.first_pos + row);
  line_ += ",\"shape\":[";
  append_integer(line_, tensor.cols);
  line_ += "],\"dtype\":\"f32\",\"rms\":";
  if (nonfinite == 0) {
    append_number(line_, std::sqrt(sum_squares / static_cast<double>(tensor.cols)));
  } else {
    line_ += "null,\"nonfinite\":";
    append_integer(line_, nonfinite);
  }
  line_ += ",\"blake3\":\"";
  line_ += blake3_hex(values, nbytes);
  line_ += '"';
  if (data_) {
    if (std::fwrite(values, 1, nbytes, data_) != nbytes) throw_io("cannot write", data_path_);
    line_ += ",\"data\":\"";
    line_ += data_name_;
    line_ += "\",\"offset\":";
    append_integer(line_, static_cast<int64_t>(data_offset_));
    data_offset_ += nbytes;
  }
  line_ += "}\n";
  if (std::fwrite(line_.data(), 1, line_.size(), jsonl_) != line_.size())
    throw_io("cannot write", jsonl_path_);
  ++records_;
}

}  // namespace bitnet
