#include "gguf/gguf_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "bitnet/error.hpp"

namespace bitnet::gguf {
namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void put_value(std::vector<uint8_t>& out, const Value& v, bool with_type);

void put_array(std::vector<uint8_t>& out, const Array& a) {
  put<uint32_t>(out, static_cast<uint32_t>(a.element_type));
  put<uint64_t>(out, a.size);
  switch (a.element_type) {
    case ValueType::STRING:
      for (auto s : a.strings) put_string(out, s);
      break;
    case ValueType::ARRAY:
      for (const auto& v : a.nested) put_array(out, v.as_array());
      break;
    default: {
      const auto* p = reinterpret_cast<const uint8_t*>(a.raw.data());
      out.insert(out.end(), p, p + a.raw.size());
    }
  }
}

void put_value(std::vector<uint8_t>& out, const Value& v, bool with_type) {
  if (with_type) put<uint32_t>(out, static_cast<uint32_t>(v.type()));
  switch (v.type()) {
    case ValueType::UINT8:
      put<uint8_t>(out, static_cast<uint8_t>(v.as_u64()));
      break;
    case ValueType::INT8:
      put<int8_t>(out, static_cast<int8_t>(v.as_i64()));
      break;
    case ValueType::UINT16:
      put<uint16_t>(out, static_cast<uint16_t>(v.as_u64()));
      break;
    case ValueType::INT16:
      put<int16_t>(out, static_cast<int16_t>(v.as_i64()));
      break;
    case ValueType::UINT32:
      put<uint32_t>(out, static_cast<uint32_t>(v.as_u64()));
      break;
    case ValueType::INT32:
      put<int32_t>(out, static_cast<int32_t>(v.as_i64()));
      break;
    case ValueType::UINT64:
      put<uint64_t>(out, v.as_u64());
      break;
    case ValueType::INT64:
      put<int64_t>(out, v.as_i64());
      break;
    case ValueType::FLOAT32:
      put<float>(out, static_cast<float>(v.as_f64()));
      break;
    case ValueType::FLOAT64:
      put<double>(out, v.as_f64());
      break;
    case ValueType::BOOL:
      put<uint8_t>(out, v.as_bool() ? 1 : 0);
      break;
    case ValueType::STRING:
      put_string(out, v.as_string());
      break;
    case ValueType::ARRAY:
      put_array(out, v.as_array());
      break;
  }
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw Error(ErrorCategory::config,
                "GGUF alignment must be a power of two, got " + std::to_string(alignment));
  }
  if (alignment != kDefaultAlignment) add_u32("general.alignment", alignment);
}

void GgufWriter::check_new_key(std::string_view key) {
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) {
    throw Error(ErrorCategory::internal,
                "GGUF writer: duplicate metadata key '" + std::string(key) + "'");
  }
  keys_.emplace_back(key);
  put_string(kv_bytes_, key);
  ++kv_count_;
}

template <typename T>
static void put_scalar(std::vector<uint8_t>& out, ValueType type, T v) {
  put<uint32_t>(out, static_cast<uint32_t>(type));
  put(out, v);
}

void GgufWriter::add_u8(std::string_view key, uint8_t v) {
  check_new_key(key);
  put_scalar(kv_bytes_, ValueType::UINT8, v);
}
void GgufWriter::add_i8(std::string_view key, int8_t v) {
  check_new_key(key);
  put_scalar(kv_bytes_, ValueType::INT8, v);
}
void GgufWriter::add_u16(std::string_view key, uint16_t v) {
  check_new_key(key);
  put_scalar(kv_bytes_, ValueType::UINT16, v);
}
void GgufWriter::add_i16(std::string_view key, int16_t v) {
  check_new_key(key);
  put_scalar(kv_bytes_, ValueType::INT16, v);
}
void GgufWriter::add_i64(std::string_view key, int64_t v) {
  check_new_key(key);
  put_scalar(kv_bytes_, ValueType::INT64, v);
}
void GgufWriter::add_f64(std::string_view key, double v) {
  check_new_key(key);
  put_scalar(kv_bytes_, ValueType::FLOAT64, v);
}
bool GgufWriter::has_key(std::string_view key) const {
  return std::find(keys_.begin(), keys_.end(), key) != keys_.end();
}

void GgufWriter::add_u32(std::string_view key, uint32_t v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::UINT32));
  put(kv_bytes_, v);
}
void GgufWriter::add_i32(std::string_view key, int32_t v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::INT32));
  put(kv_bytes_, v);
}
void GgufWriter::add_u64(std::string_view key, uint64_t v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::UINT64));
  put(kv_bytes_, v);
}
void GgufWriter::add_f32(std::string_view key, float v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::FLOAT32));
  put(kv_bytes_, v);
}
void GgufWriter::add_bool(std::string_view key, bool v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::BOOL));
  put<uint8_t>(kv_bytes_, v ? 1 : 0);
}
void GgufWriter::add_string(std::string_view key, std::string_view v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::STRING));
  put_string(kv_bytes_, v);
}
void GgufWriter::add_string_array(std::string_view key, const std::vector<std::string>& v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::ARRAY));
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::STRING));
  put<uint64_t>(kv_bytes_, v.size());
  for (const auto& s : v) put_string(kv_bytes_, s);
}
void GgufWriter::add_f32_array(std::string_view key, const std::vector<float>& v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::ARRAY));
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::FLOAT32));
  put<uint64_t>(kv_bytes_, v.size());
  for (float f : v) put(kv_bytes_, f);
}
void GgufWriter::add_i32_array(std::string_view key, const std::vector<int32_t>& v) {
  check_new_key(key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::ARRAY));
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::INT32));
  put<uint64_t>(kv_bytes_, v.size());
  for (int32_t i : v) put(kv_bytes_, i);
}
void GgufWriter::copy_key(std::string_view key, const Value& value) {
  check_new_key(key);
  put_value(kv_bytes_, value, true);
}

void GgufWriter::add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& ne,
                            std::vector<uint8_t> data) {
  add_tensor_lazy(name, type, ne, nullptr);
  const auto expected = static_cast<int64_t>(data.size());
  if (tensors_.back().nbytes != expected) {
    const int64_t needed = tensors_.back().nbytes;
    tensors_.pop_back();
    throw Error(ErrorCategory::internal, "GGUF writer: tensor '" + std::string(name) + "' has " +
                                             std::to_string(expected) + " bytes, its shape needs " +
                                             std::to_string(needed));
  }
  tensors_.back().data = std::move(data);
}

void GgufWriter::add_tensor_lazy(std::string_view name, TensorType type,
                                 const std::vector<int64_t>& ne, FillFn fill) {
  if (ne.empty() || ne.size() > 4) {
    throw Error(ErrorCategory::internal,
                "GGUF writer: tensor '" + std::string(name) + "' needs 1 to 4 dimensions");
  }
  if (name.empty()) throw Error(ErrorCategory::internal, "GGUF writer: empty tensor name");
  for (const auto& t : tensors_) {
    if (t.name == name)
      throw Error(ErrorCategory::internal,
                  "GGUF writer: duplicate tensor '" + std::string(name) + "'");
  }
  int64_t n = 1;
  for (int64_t d : ne) {
    if (d <= 0 || __builtin_mul_overflow(n, d, &n)) {
      throw Error(ErrorCategory::internal,
                  "GGUF writer: tensor '" + std::string(name) + "' has an invalid shape");
    }
  }
  const auto nbytes = tensor_nbytes(type, n, ne[0]);
  if (!nbytes) {
    throw Error(ErrorCategory::internal, "GGUF writer: tensor '" + std::string(name) +
                                             "' shape does not fit type " +
                                             std::string(to_string(type)));
  }
  tensors_.push_back(Tensor{std::string(name), type, ne, *nbytes, {}, std::move(fill)});
}

void GgufWriter::write(const std::string& path, const ProgressFn& progress) const {
  std::vector<uint8_t> header;
  put<uint32_t>(header, kMagic);
  put<uint32_t>(header, 3);
  put<uint64_t>(header, tensors_.size());
  put<uint64_t>(header, kv_count_);
  header.insert(header.end(), kv_bytes_.begin(), kv_bytes_.end());
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(header, t.name);
    put<uint32_t>(header, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(header, static_cast<uint64_t>(d));
    put<uint32_t>(header, static_cast<uint32_t>(t.type));
    put<uint64_t>(header, offset);
    offset += (static_cast<uint64_t>(t.nbytes) + alignment_ - 1) / alignment_ * alignment_;
  }
  header.resize((header.size() + alignment_ - 1) / alignment_ * alignment_, 0);
  const uint64_t total = header.size() + offset;

  const std::string tmp = path + ".tmp";
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
  const auto io_fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    f.reset();
    std::remove(tmp.c_str());
    throw Error(ErrorCategory::io, path + ": " + what + ": " + reason);
  };
  if (!f) io_fail("cannot create");
  const auto put_bytes = [&](const uint8_t* bytes, size_t n) {
    if (n > 0 && std::fwrite(bytes, 1, n, f.get()) != n) io_fail("write failed");
  };
  put_bytes(header.data(), header.size());
  uint64_t done = header.size();
  std::vector<uint8_t> buffer;
  for (const auto& t : tensors_) {
    if (!t.fill) {
      put_bytes(t.data.data(), t.data.size());
    } else {
      // Whole rows per chunk; the last chunk also carries any bytes past the last row (I2_S scale).
      const int64_t row = *row_nbytes(t.type, t.ne[0]);
      int64_t n_rows = 1;
      for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
      const int64_t rows_bytes = row * n_rows;
      const int64_t chunk = std::max<int64_t>(row, chunk_bytes_ / row * row);
      for (int64_t at = 0; at < t.nbytes;) {
        int64_t len = std::min(chunk, rows_bytes - at);
        if (at + len >= rows_bytes) len = t.nbytes - at;
        buffer.assign(static_cast<size_t>(len), 0);
        try {
          t.fill(buffer.data(), at, len);
        } catch (...) {
          f.reset();
          std::remove(tmp.c_str());
          throw;
        }
        put_bytes(buffer.data(), buffer.size());
        at += len;
        if (progress) progress(done + static_cast<uint64_t>(at), total);
      }
    }
    done += static_cast<uint64_t>(t.nbytes);
    const size_t pad = static_cast<size_t>((alignment_ - t.nbytes % alignment_) % alignment_);
    static constexpr uint8_t kZeros[256] = {};
    for (size_t left = pad; left > 0;) {
      const size_t n = std::min(left, sizeof(kZeros));
      put_bytes(kZeros, n);
      left -= n;
    }
    done += pad;
    if (progress) progress(done, total);
  }
  if (std::fflush(f.get()) != 0) io_fail("write failed");
  if (std::fclose(f.release()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(ErrorCategory::io, path + ": write failed: " + reason);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error(ErrorCategory::io, path + ": cannot rename from " + tmp + ": " + ec.message());
  }
}

}  // namespace bitnet::gguf
