#include "convert/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"

namespace bitnet::convert {
namespace {

using json = nlohmann::json;

// safetensors itself refuses headers over 100 MB.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw Error(ErrorCategory::model, file + ": " + what);
}

std::optional<StDtype> dtype_from_name(const std::string& s) {
  if (s == "BF16") return StDtype::BF16;
  if (s == "F16") return StDtype::F16;
  if (s == "F32") return StDtype::F32;
  if (s == "U8") return StDtype::U8;
  if (s == "I8") return StDtype::I8;
  return std::nullopt;
}

bool is_other_safetensors_dtype(const std::string& s) {
  static const std::set<std::string> kKnown = {"BOOL", "F64",     "I16",     "I32",     "I64",
                                               "U16",  "U32",     "U64",     "F8_E4M3", "F8_E5M2",
                                               "F4",   "F6_E2M3", "F6_E3M2", "F8_E8M0", "C64"};
  return kKnown.contains(s);
}

std::string range_string(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

}  // namespace

std::string_view to_string(StDtype dtype) {
  switch (dtype) {
    case StDtype::BF16:
      return "BF16";
    case StDtype::F16:
      return "F16";
    case StDtype::F32:
      return "F32";
    case StDtype::U8:
      return "U8";
    case StDtype::I8:
      return "I8";
  }
  return "?";
}

int64_t dtype_size(StDtype dtype) {
  switch (dtype) {
    case StDtype::BF16:
    case StDtype::F16:
      return 2;
    case StDtype::F32:
      return 4;
    case StDtype::U8:
    case StDtype::I8:
      return 1;
  }
  return 1;
}

std::string StTensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

float StTensor::value_f32(int64_t i) const {
  const std::byte* p = data + i * dtype_size(dtype);
  switch (dtype) {
    case StDtype::BF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return bf16_to_fp32(h);
    }
    case StDtype::F16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return fp16_to_fp32(h);
    }
    case StDtype::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case StDtype::U8:
      return static_cast<float>(std::to_integer<uint8_t>(*p));
    case StDtype::I8:
      return static_cast<float>(static_cast<int8_t>(std::to_integer<uint8_t>(*p)));
  }
  return 0.0f;
}

void StTensor::release(int64_t begin, int64_t n) const {
  if (mapping == nullptr || n <= 0) return;
  const int64_t size = dtype_size(dtype);
  mapping->advise_dont_need(data + begin * size, static_cast<size_t>(n * size));
}

void StTensor::to_f32(int64_t begin, int64_t n, float* out) const {
  const std::byte* p = data + begin * dtype_size(dtype);
  switch (dtype) {  // one loop per dtype, so the compiler vectorizes it
    case StDtype::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = bf16_to_fp32(h);
      }
      return;
    case StDtype::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = fp16_to_fp32(h);
      }
      return;
    case StDtype::F32:
      std::memcpy(out, p, static_cast<size_t>(n) * 4);
      return;
    case StDtype::U8:
    case StDtype::I8:
      for (int64_t i = 0; i < n; ++i) out[i] = value_f32(begin + i);
      return;
  }
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = std::make_unique<std::string>(path);
  f.mapping_ = std::make_unique<MappedFile>(MappedFile::open(path));
  f.validate(f.mapping_->bytes());
  return f;
}

SafetensorsFile SafetensorsFile::parse(std::span<const std::byte> bytes, const std::string& name) {
  SafetensorsFile f;
  f.path_ = std::make_unique<std::string>(name);
  f.validate(bytes);
  return f;
}

void SafetensorsFile::validate(std::span<const std::byte> bytes) {
  const std::string& file = *path_;
  const uint64_t size = bytes.size();
  if (size < 8) {
    fail(file, "offset 0: file is " + std::to_string(size) +
                   " bytes, too short for the 8-byte header length (truncated?)");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<uint8_t>(bytes[i]);
  if (header_len > size - 8) {
    fail(file, "offset 0: header length " + std::to_string(header_len) +
                   " runs past the end of the file (" + std::to_string(size) +
                   " bytes; truncated?)");
  }
  if (header_len > kMaxHeaderBytes) {
    fail(file, "offset 0: header length " + std::to_string(header_len) + " exceeds 100 MB");
  }
  if (header_len < 2 || std::to_integer<char>(bytes[8]) != '{') {
    fail(file, "offset 8: the header is not a JSON object");
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), header_len);

  // Duplicate top-level keys are an error (nlohmann::json would keep the last one silently).
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && parsed.is_string()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, on_event);
  } catch (const json::parse_error& e) {
    fail(file, "offset " + std::to_string(8 + e.byte) + ": invalid JSON header: " + e.what());
  } catch (const json::exception& e) {  // out_of_range: a number beyond double, e.g. 1e999
    fail(file, "offset 8: invalid JSON header: " + std::string(e.what()));
  }
  if (!header.is_object()) fail(file, "offset 8: the header is not a JSON object");
  if (!duplicate.empty()) fail(file, "offset 8: tensor '" + duplicate + "' is listed twice");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  for (auto item = header.begin(); item != header.end(); ++item) {
    const std::string& name = item.key();
    const json& entry = item.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(file, "offset 8: __metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(file, "offset 8: __metadata__ value '" + k + "' is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const auto bad = [&](const std::string& what) {
      fail(file, "offset 8: tensor '" + name + "': " + what);
    };
    if (name.empty()) fail(file, "offset 8: a tensor has an empty name");
    if (!entry.is_object()) bad("entry is not an object");
    const auto dt = entry.find("dtype");
    const auto sh = entry.find("shape");
    const auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string()) bad("missing or non-string 'dtype'");
    if (sh == entry.end() || !sh->is_array()) bad("missing or non-array 'shape'");
    if (off == entry.end() || !off->is_array() || off->size() != 2) {
      bad("'data_offsets' must be an array [begin, end]");
    }
    const std::string dtype_name = dt->get<std::string>();
    const auto dtype = dtype_from_name(dtype_name);
    if (!dtype) {
      bad((is_other_safetensors_dtype(dtype_name) ? "unsupported dtype '" : "unknown dtype '") +
          dtype_name + "' (supported: BF16, F16, F32, U8, I8)");
    }
    StTensor t;
    t.name = name;
    t.dtype = *dtype;
    t.file = path_.get();
    t.mapping = mapping_.get();
    if (sh->size() > 8) bad("has " + std::to_string(sh->size()) + " dimensions (at most 8)");
    uint64_t n = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) bad("shape " + sh->dump() + " holds a non-integer or negative");
      const uint64_t v = d.get<uint64_t>();
      if (v != 0 && n > (uint64_t{1} << 62) / v) bad("shape " + sh->dump() + " overflows");
      n *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    for (const auto& o : *off) {
      if (!o.is_number_unsigned())
        bad("data_offsets " + off->dump() + " are not unsigned integers");
    }
    const uint64_t begin = (*off)[0].get<uint64_t>();
    const uint64_t end = (*off)[1].get<uint64_t>();
    const uint64_t want = n * static_cast<uint64_t>(dtype_size(*dtype));
    if (end < begin) bad("data_offsets " + range_string(begin, end) + " end before they begin");
    if (end - begin != want) {
      bad("data_offsets " + range_string(begin, end) + " hold " + std::to_string(end - begin) +
          " bytes, but shape " + t.shape_string() + " of " + dtype_name + " needs " +
          std::to_string(want));
    }
    if (end > data_size) {
      fail(file, "offset " + std::to_string(data_start + begin) + ": tensor '" + name + "': data " +
                     range_string(begin, end) + " runs past the end of the file (" +
                     std::to_string(data_size) + " data bytes; truncated?)");
    }
    t.n_elements = static_cast<int64_t>(n);
    t.nbytes = want;
    t.file_offset = data_start + begin;
    t.data = bytes.data() + data_start + begin;
    tensors_.push_back(std::move(t));
  }

  // No two tensors may share bytes.
  std::vector<const StTensor*> by_offset;
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const StTensor* a, const StTensor* b) {
    return a->file_offset != b->file_offset ? a->file_offset < b->file_offset : a->name < b->name;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const StTensor& a = *by_offset[i - 1];
    const StTensor& b = *by_offset[i];
    if (b.nbytes > 0 && a.nbytes > 0 && b.file_offset < a.file_offset + a.nbytes) {
      fail(file, "offset " + std::to_string(b.file_offset) + ": tensor '" + b.name + "' " +
                     range_string(b.file_offset, b.file_offset + b.nbytes) + " overlaps tensor '" +
                     a.name + "' " + range_string(a.file_offset, a.file_offset + a.nbytes));
    }
  }
  std::sort(tensors_.begin(), tensors_.end(),
            [](const StTensor& a, const StTensor& b) { return a.name < b.name; });
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Checkpoint Checkpoint::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  Checkpoint c;
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::ifstream in(index);
    std::stringstream ss;
    ss << in.rdbuf();
    json j;
    try {
      j = json::parse(ss.str());
    } catch (const json::exception& e) {
      fail(index.string(), std::string("invalid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      fail(index.string(), "no 'weight_map' object");
    }
    std::map<std::string, size_t> shard_of_file;
    for (const auto& [name, shard] : j["weight_map"].items()) {
      if (!shard.is_string()) fail(index.string(), "weight_map['" + name + "'] is not a string");
      const std::string s = shard.get<std::string>();
      if (s.empty() || s.find('/') != std::string::npos || s == "." || s == "..") {
        fail(index.string(), "weight_map['" + name + "'] names '" + s +
                                 "', which is not a file in the checkpoint folder");
      }
      if (!shard_of_file.contains(s)) {
        shard_of_file[s] = c.files_.size();
        c.files_.push_back(
            std::make_unique<SafetensorsFile>(SafetensorsFile::open((fs::path(dir) / s).string())));
      }
      const SafetensorsFile& f = *c.files_[shard_of_file[s]];
      const StTensor* t = f.find(name);
      if (t == nullptr) {
        fail(f.path(), "tensor '" + name + "' is listed in " + index.filename().string() +
                           " but missing from this shard");
      }
      c.tensors_[name] = t;
    }
    for (const auto& f : c.files_) {
      for (const auto& t : f->tensors()) {
        const auto it = c.tensors_.find(t.name);
        if (it == c.tensors_.end()) {
          fail(f->path(), "tensor '" + t.name + "' is not listed in " + index.filename().string());
        }
        if (it->second != &t) {
          fail(f->path(), "tensor '" + t.name + "' is also in " + *it->second->file);
        }
      }
    }
    c.description_ = index.string() + " (" + std::to_string(c.files_.size()) + " shards)";
    return c;
  }
  if (!fs::exists(single)) {
    fail(dir, "no model.safetensors or model.safetensors.index.json");
  }
  c.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(single.string())));
  for (const auto& t : c.files_[0]->tensors()) c.tensors_[t.name] = &t;
  c.description_ = single.string();
  return c;
}

const StTensor* Checkpoint::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second;
}

const StTensor& Checkpoint::require(const std::string& name) const {
  const StTensor* t = find(name);
  if (t == nullptr) fail(description_, "tensor '" + name + "' is missing");
  return *t;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

}  // namespace bitnet::convert
