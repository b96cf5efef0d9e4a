#include "trace/trace_reader.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "bitnet/error.hpp"

namespace bitnet {
namespace {

using nlohmann::json;

class RecordParser {
 public:
  RecordParser(const std::filesystem::path& file, int64_t line) : file_(file), line_(line) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw Error(ErrorCategory::io,
                "trace " + file_.string() + ":" + std::to_string(line_) + ": " + message);
  }

  const json& field(const json& record, const char* name) const {
    const auto it = record.find(name);
    if (it == record.end()) fail(std::string("missing field \"") + name + "\"");
    return *it;
  }

  int64_t integer(const json& record, const char* name, int64_t min_value) const {
    const json& v = field(record, name);
    if (!v.is_number_integer()) fail(std::string("field \"") + name + "\" must be an integer");
    const int64_t value = v.get<int64_t>();
    if (value < min_value) {
      fail(std::string("field \"") + name + "\" is " + std::to_string(value) + ", below " +
           std::to_string(min_value));
    }
    return value;
  }

  std::string string(const json& record, const char* name) const {
    const json& v = field(record, name);
    if (!v.is_string()) fail(std::string("field \"") + name + "\" must be a string");
    return v.get<std::string>();
  }

 private:
  const std::filesystem::path& file_;
  int64_t line_;
};

bool is_lower_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

TraceRecord parse_record(const std::string& text, const std::filesystem::path& file, int64_t line) {
  const RecordParser p(file, line);
  json record;
  try {
    record = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    p.fail(std::string("not valid JSON: ") + e.what());
  }
  if (!record.is_object()) p.fail("a record must be a JSON object");

  TraceRecord r;
  r.line = line;
  r.key.seq = p.integer(record, "seq", 0);
  const int64_t layer = p.integer(record, "layer", -1);
  if (layer > std::numeric_limits<int>::max()) p.fail("field \"layer\" is out of range");
  r.key.layer = static_cast<int>(layer);
  const std::string stage_name = p.string(record, "stage");
  const auto stage = stage_from_string(stage_name);
  if (!stage) p.fail("unknown stage \"" + stage_name + "\"");
  r.key.stage = *stage;
  if (is_model_level_stage(*stage) != (r.key.layer == -1)) {
    p.fail("stage " + stage_name + " with layer " + std::to_string(layer) +
           (r.key.layer == -1 ? ": layer stages need a layer >= 0"
                              : ": this stage is reported with layer -1"));
  }
  r.key.pos = p.integer(record, "pos", 0);

  const json& shape = p.field(record, "shape");
  if (!shape.is_array() || shape.empty()) p.fail("field \"shape\" must be a non-empty array");
  r.n_values = 1;
  for (const json& dim : shape) {
    if (!dim.is_number_integer() || dim.get<int64_t>() < 1)
      p.fail("field \"shape\" must hold positive integers");
    const int64_t d = dim.get<int64_t>();
    if (r.n_values > std::numeric_limits<int64_t>::max() / 4 / d)
      p.fail("field \"shape\" is too large");
    r.n_values *= d;
    r.shape.push_back(d);
  }
  const std::string dtype = p.string(record, "dtype");
  if (dtype != "f32") p.fail("unsupported dtype \"" + dtype + "\" (only f32)");

  const json& rms = p.field(record, "rms");
  if (rms.is_number()) {
    r.rms = rms.get<double>();
  } else if (!rms.is_null()) {
    p.fail("field \"rms\" must be a number or null");
  }
  r.blake3 = p.string(record, "blake3");
  if (r.blake3.size() != 64 || !is_lower_hex(r.blake3))
    p.fail("field \"blake3\" must be 64 lowercase hex digits");

  if (record.contains("data")) {
    const std::string name = p.string(record, "data");
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      p.fail("field \"data\" must be a file name beside the trace, got \"" + name + "\"");
    }
    r.data_file = name;
    r.data_offset = static_cast<uint64_t>(p.integer(record, "offset", 0));
  }
  return r;
}

std::filesystem::path resolve_trace_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    if (!std::filesystem::exists(path, ec)) {
      throw Error(ErrorCategory::io, "trace: " + path.string() + " does not exist");
    }
    return path;
  }
  const auto files = find_trace_files(path);
  if (files.empty())
    throw Error(ErrorCategory::io, "trace: no *.jsonl trace in directory " + path.string());
  if (files.size() > 1) {
    std::string names;
    for (const auto& f : files) names += "\n  " + f.string();
    throw Error(ErrorCategory::io, "trace: directory " + path.string() + " holds " +
                                       std::to_string(files.size()) +
                                       " traces; name one of them instead:" + names);
  }
  return files.front();
}

}  // namespace

int64_t TraceKey::layer_rank() const {
  if (stage == Stage::embeddings) return -1;
  if (stage == Stage::final_norm || stage == Stage::logits)
    return std::numeric_limits<int64_t>::max();
  return layer;
}

bool is_model_level_stage(Stage stage) {
  return stage == Stage::embeddings || stage == Stage::final_norm || stage == Stage::logits;
}

std::vector<std::filesystem::path> find_trace_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".jsonl")
      files.push_back(entry.path());
  }
  if (ec)
    throw Error(ErrorCategory::io, "trace: cannot list " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

namespace {

// `<run>.meta.json` (written by a filtered TraceRecorder): {"filter": SPEC}.
TraceFilter read_filter(const std::filesystem::path& jsonl_path) {
  auto meta_path = jsonl_path;
  meta_path.replace_extension(".meta.json");
  std::ifstream meta(meta_path);
  if (!meta) return {};
  const std::string text((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("filter") || !j["filter"].is_string()) {
    throw Error(ErrorCategory::io,
                "trace: " + meta_path.string() + ": expected {\"filter\": \"LAYER:STAGE,...\"}");
  }
  try {
    return TraceFilter::parse(j["filter"].get<std::string>());
  } catch (const Error& e) {
    throw Error(ErrorCategory::io, "trace: " + meta_path.string() + ": " + e.what());
  }
}

}  // namespace

Trace Trace::load(const std::filesystem::path& path) {
  Trace trace;
  trace.path_ = resolve_trace_file(path);
  std::ifstream in(trace.path_);
  if (!in) throw Error(ErrorCategory::io, "trace: cannot open " + trace.path_.string());

  std::set<std::tuple<int64_t, int64_t, int, int64_t>> seen;
  std::string text;
  for (int64_t line = 1; std::getline(in, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    TraceRecord record = parse_record(text, trace.path_, line);
    const auto& k = record.key;
    if (!seen.insert({k.seq, k.layer, static_cast<int>(k.stage), k.pos}).second) {
      throw Error(ErrorCategory::io, "trace " + trace.path_.string() + ":" + std::to_string(line) +
                                         ": a second record for seq " + std::to_string(k.seq) +
                                         ", layer " + std::to_string(k.layer) + ", stage " +
                                         std::string(to_string(k.stage)) + ", pos " +
                                         std::to_string(k.pos));
    }
    if (record.data_file) {
      auto it = trace.data_files_.find(*record.data_file);
      if (it == trace.data_files_.end()) {
        const auto data_path = trace.path_.parent_path() / *record.data_file;
        it = trace.data_files_.emplace(*record.data_file, MappedFile::open(data_path.string()))
                 .first;
      }
      const uint64_t size = it->second.bytes().size();
      const uint64_t nbytes = static_cast<uint64_t>(record.n_values) * sizeof(float);
      if (record.data_offset % sizeof(float) != 0 || record.data_offset > size ||
          nbytes > size - record.data_offset) {
        throw Error(ErrorCategory::io,
                    "trace " + trace.path_.string() + ":" + std::to_string(line) +
                        ": data at offset " + std::to_string(record.data_offset) + " (+" +
                        std::to_string(nbytes) + " bytes) lies outside " + *record.data_file +
                        " (" + std::to_string(size) + " bytes)");
      }
    }
    trace.records_.push_back(std::move(record));
  }
  if (in.bad()) throw Error(ErrorCategory::io, "trace: cannot read " + trace.path_.string());
  trace.filter_ = read_filter(trace.path_);
  return trace;
}

std::span<const float> Trace::row(const TraceRecord& record) const {
  if (!record.data_file) return {};
  const auto& file = data_files_.at(*record.data_file);
  const auto* base = reinterpret_cast<const float*>(file.bytes().data() + record.data_offset);
  return {base, static_cast<size_t>(record.n_values)};
}

}  // namespace bitnet
