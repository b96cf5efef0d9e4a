// GGUF parsing and validation. Nothing in the file is trusted: every length and count is checked
// against the bytes that remain before anything is allocated or read.
#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"

namespace bitnet::gguf {

namespace {
constexpr uint32_t kMaxArrayNesting = 8;
// Nested arrays cost far more memory than their 12 bytes in the file; real models have none, so a
// file gets a fixed budget (a 1 GB file of empty arrays must not turn into 10 GB of Values).
constexpr uint64_t kMaxNestedArrays = uint64_t{1} << 20;
constexpr uint32_t kMaxDims = 4;
}  // namespace

class Parser {
 public:
  Parser(std::span<const std::byte> bytes, std::string name)
      : bytes_(bytes), name_(std::move(name)) {}

  void parse(GgufFile& out) {
    out.path_ = name_;
    out.bytes_ = bytes_;
    if (bytes_.size() < 4)
      fail(0, "file too small for the GGUF magic (" + std::to_string(bytes_.size()) + " bytes)");
    const auto magic = read<uint32_t>("magic");
    if (magic != kMagic) fail(0, "bad magic (not a GGUF file)");
    const size_t version_at = pos_;
    out.version_ = read<uint32_t>("version");
    if (out.version_ == 1)
      fail(version_at, "GGUF version 1 is not supported (re-convert the model)");
    if (out.version_ != 2 && out.version_ != 3) {
      fail(version_at, "unsupported GGUF version " + std::to_string(out.version_));
    }
    const size_t counts_at = pos_;
    const uint64_t n_tensors = read<uint64_t>("tensor count");
    const uint64_t n_kv = read<uint64_t>("metadata count");
    // Each tensor info takes at least 8+1+4+8+4+8 bytes, each key/value at least 8+1+4+1.
    if (n_tensors > remaining() / 33)
      fail(counts_at,
           "tensor count " + std::to_string(n_tensors) + " exceeds what the file can hold");
    if (n_kv > remaining() / 14)
      fail(counts_at + 8,
           "metadata count " + std::to_string(n_kv) + " exceeds what the file can hold");

    out.kv_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
      const size_t key_at = pos_;
      const std::string_view key = read_string("metadata key");
      if (key.empty()) fail(key_at, "empty metadata key");
      if (out.kv_index_.count(key) != 0)
        fail(key_at, "duplicate metadata key '" + std::string(key) + "'");
      const size_t type_at = pos_;
      const auto type = read_value_type("type of '" + std::string(key) + "'");
      Value value = read_value(type, std::string(key), type_at, 0);
      if (key == "general.alignment") alignment_at_ = type_at;
      out.kv_index_.emplace(key, out.kv_.size());
      out.kv_.emplace_back(key, std::move(value));
    }

    if (const Value* align = out.find("general.alignment")) {
      if (align->type() != ValueType::UINT32) {
        fail(alignment_at_,
             "general.alignment must be a u32, not " + std::string(to_string(align->type())));
      }
      const uint64_t a = align->as_u64();
      if (a == 0 || (a & (a - 1)) != 0) {
        fail(alignment_at_, "general.alignment " + std::to_string(a) + " is not a power of two");
      }
      out.alignment_ = static_cast<uint32_t>(a);
    }

    out.tensors_.reserve(n_tensors);
    info_at_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) out.tensors_.push_back(read_tensor_info(out));

    const uint64_t align = out.alignment_;
    uint64_t data_offset = (pos_ + align - 1) / align * align;
    if (n_tensors > 0 && data_offset > bytes_.size()) {
      fail(pos_,
           "data section starts at " + std::to_string(data_offset) + ", past the end of the file");
    }
    out.data_offset_ = std::min<uint64_t>(data_offset, bytes_.size());
    validate_tensor_data(out);
  }

 private:
  [[noreturn]] void fail(size_t offset, const std::string& what) const {
    std::ostringstream msg;
    msg << name_ << ": offset " << offset << ": " << what;
    throw Error(ErrorCategory::model, msg.str());
  }

  size_t remaining() const { return bytes_.size() - pos_; }

  void need(size_t n, const char* what) const {
    if (n > remaining()) {
      fail(pos_, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes, " +
                     std::to_string(remaining()) + " remain");
    }
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string_view read_string(const char* what) {
    const size_t at = pos_;
    const auto len = read<uint64_t>(what);
    if (len > remaining()) {
      fail(at, std::string(what) + ": string length " + std::to_string(len) + " exceeds the " +
                   std::to_string(remaining()) + " bytes that remain");
    }
    std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

  ValueType read_value_type(const std::string& what) {
    const size_t at = pos_;
    const auto raw = read<uint32_t>("value type");
    if (raw > static_cast<uint32_t>(ValueType::FLOAT64)) {
      fail(at, what + ": unknown value type " + std::to_string(raw));
    }
    return static_cast<ValueType>(raw);
  }

  Value read_value(ValueType type, const std::string& key, size_t at, uint32_t depth) {
    switch (type) {
      case ValueType::UINT8:
        return Value::from_u64(type, read<uint8_t>(key.c_str()));
      case ValueType::INT8:
        return Value::from_i64(type, read<int8_t>(key.c_str()));
      case ValueType::UINT16:
        return Value::from_u64(type, read<uint16_t>(key.c_str()));
      case ValueType::INT16:
        return Value::from_i64(type, read<int16_t>(key.c_str()));
      case ValueType::UINT32:
        return Value::from_u64(type, read<uint32_t>(key.c_str()));
      case ValueType::INT32:
        return Value::from_i64(type, read<int32_t>(key.c_str()));
      case ValueType::UINT64:
        return Value::from_u64(type, read<uint64_t>(key.c_str()));
      case ValueType::INT64:
        return Value::from_i64(type, read<int64_t>(key.c_str()));
      case ValueType::FLOAT32:
        return Value::from_f64(type, read<float>(key.c_str()));
      case ValueType::FLOAT64:
        return Value::from_f64(type, read<double>(key.c_str()));
      case ValueType::BOOL: {
        const size_t b_at = pos_;
        const auto b = read<uint8_t>(key.c_str());
        if (b > 1) fail(b_at, key + ": bool value " + std::to_string(b) + " is neither 0 nor 1");
        return Value::from_bool(b != 0);
      }
      case ValueType::STRING:
        return Value::from_string(read_string(key.c_str()));
      case ValueType::ARRAY:
        return Value::from_array(read_array(key, at, depth + 1));
    }
    fail(at, key + ": unknown value type");
  }

  std::shared_ptr<const Array> read_array(const std::string& key, size_t at, uint32_t depth) {
    if (depth > kMaxArrayNesting)
      fail(at, key + ": arrays nested deeper than " + std::to_string(kMaxArrayNesting));
    auto array = std::make_shared<Array>();
    const size_t type_at = pos_;
    array->element_type = read_value_type(key + " (array element type)");
    const size_t count_at = pos_;
    array->size = read<uint64_t>("array length");
    const auto too_long = [&](uint64_t min_elem_bytes) {
      if (array->size > remaining() / min_elem_bytes) {
        fail(count_at, key + ": array length " + std::to_string(array->size) + " exceeds the " +
                           std::to_string(remaining()) + " bytes that remain");
      }
    };
    switch (array->element_type) {
      case ValueType::STRING:
        too_long(8);
        array->strings.reserve(array->size);
        for (uint64_t i = 0; i < array->size; ++i)
          array->strings.push_back(read_string(key.c_str()));
        break;
      case ValueType::ARRAY:
        too_long(12);
        nested_arrays_ += array->size;
        if (nested_arrays_ > kMaxNestedArrays) {
          fail(count_at, key + ": more than " + std::to_string(kMaxNestedArrays) +
                             " nested arrays in the file");
        }
        array->nested.reserve(array->size);
        for (uint64_t i = 0; i < array->size; ++i) {
          array->nested.push_back(Value::from_array(read_array(key, type_at, depth + 1)));
        }
        break;
      default: {
        const size_t elem = scalar_size(array->element_type);
        too_long(elem);
        array->raw = bytes_.subspan(pos_, array->size * elem);
        if (array->element_type == ValueType::BOOL) {
          for (auto b : array->raw) {
            if (static_cast<uint8_t>(b) > 1)
              fail(pos_, key + ": bool array element is neither 0 nor 1");
          }
        }
        pos_ += array->raw.size();
      }
    }
    return array;
  }

  TensorInfo read_tensor_info(GgufFile& out) {
    TensorInfo t;
    const size_t name_at = pos_;
    t.name = read_string("tensor name");
    const std::string name(t.name);
    if (t.name.empty()) fail(name_at, "empty tensor name");
    const size_t dims_at = pos_;
    t.n_dims = read<uint32_t>("tensor dimension count");
    if (t.n_dims == 0 || t.n_dims > kMaxDims) {
      fail(dims_at,
           "tensor '" + name + "': " + std::to_string(t.n_dims) + " dimensions (1 to 4 allowed)");
    }
    int64_t n = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      const size_t dim_at = pos_;
      const auto dim = read<uint64_t>("tensor dimension");
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail(dim_at, "tensor '" + name + "': dimension " + std::to_string(d) + " is " +
                         std::to_string(dim));
      }
      t.ne[d] = static_cast<int64_t>(dim);
      if (__builtin_mul_overflow(n, t.ne[d], &n))
        fail(dim_at, "tensor '" + name + "': element count overflows");
    }
    t.n_elements = n;
    const size_t type_at = pos_;
    const auto type_id = read<uint32_t>("tensor type");
    const auto type = tensor_type_from_id(type_id);
    if (!type)
      fail(type_at, "tensor '" + name + "': unknown tensor type " + std::to_string(type_id));
    t.type = *type;
    const auto nbytes = tensor_nbytes(t.type, t.n_elements, t.ne[0]);
    if (!nbytes) {
      if (t.ne[0] % traits(t.type).block_size != 0) {
        fail(type_at, "tensor '" + name + "': row length " + std::to_string(t.ne[0]) +
                          " is not a multiple of the " + std::string(to_string(t.type)) +
                          " block of " + std::to_string(traits(t.type).block_size));
      }
      fail(type_at, "tensor '" + name + "': byte size of " + std::to_string(t.n_elements) + " " +
                        std::string(to_string(t.type)) + " values overflows");
    }
    t.nbytes = *nbytes;
    info_at_.push_back(pos_);  // where the offset field is: errors about the data point here
    t.offset = read<uint64_t>("tensor offset");
    if (!out.tensor_index_.emplace(t.name, out.tensors_.size()).second) {
      fail(name_at, "duplicate tensor name '" + name + "'");
    }
    return t;
  }

  void validate_tensor_data(GgufFile& out) {
    const uint64_t file_size = bytes_.size();
    std::vector<size_t> order(out.tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = 0; i < out.tensors_.size(); ++i) {
      auto& t = out.tensors_[i];
      const std::string name(t.name);
      if (t.offset % out.alignment_ != 0) {
        fail(info_at_[i], "tensor '" + name + "': offset " + std::to_string(t.offset) +
                              " is not a multiple of the alignment " +
                              std::to_string(out.alignment_));
      }
      uint64_t end = 0;
      if (__builtin_add_overflow(out.data_offset_, t.offset, &end) ||
          __builtin_add_overflow(end, static_cast<uint64_t>(t.nbytes), &end) || end > file_size) {
        fail(info_at_[i], "tensor '" + name + "': data [" + std::to_string(t.offset) + ", +" +
                              std::to_string(t.nbytes) + ") lies past the end of the file (" +
                              std::to_string(file_size) + " bytes)");
      }
      t.data = bytes_.data() + out.data_offset_ + t.offset;
    }
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return out.tensors_[a].offset < out.tensors_[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const auto& prev = out.tensors_[order[i - 1]];
      const auto& cur = out.tensors_[order[i]];
      if (prev.offset + static_cast<uint64_t>(prev.nbytes) > cur.offset) {
        fail(info_at_[order[i]],
             "tensor '" + std::string(cur.name) + "' data [" + std::to_string(cur.offset) + ", +" +
                 std::to_string(cur.nbytes) + ") overlaps tensor '" + std::string(prev.name) +
                 "' data [" + std::to_string(prev.offset) + ", +" + std::to_string(prev.nbytes) +
                 ")");
      }
    }
  }

  std::span<const std::byte> bytes_;
  std::string name_;
  size_t pos_ = 0;
  uint64_t nested_arrays_ = 0;
  size_t alignment_at_ = 0;      // where general.alignment's value type sits
  std::vector<size_t> info_at_;  // per tensor: where its offset field sits
};

GgufFile GgufFile::open(const std::string& path) {
  auto mapping = std::make_shared<MappedFile>(MappedFile::open(path));
  GgufFile file = parse(mapping->bytes(), path);
  file.mapping_ = std::move(mapping);
  return file;
}

GgufFile GgufFile::parse(std::span<const std::byte> bytes, const std::string& name) {
  GgufFile file;
  Parser(bytes, name).parse(file);
  return file;
}

}  // namespace bitnet::gguf
