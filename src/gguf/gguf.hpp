// GGUF v2/v3 container: metadata key/values and tensor infos, read from a memory mapping.
// Everything is validated before use (see gguf_reader.cpp); a bad file raises bitnet::Error naming
// the file, the byte offset and what is wrong.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/mapped_file.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

std::string_view to_string(ValueType type);
size_t scalar_size(ValueType type);  // 0 for STRING and ARRAY

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr uint32_t kDefaultAlignment = 32;

struct Array;

// One metadata value. Strings and numeric array payloads point into the mapped file (zero copy):
// a Value must not outlive the GgufFile it came from.
class Value {
 public:
  ValueType type() const { return type_; }

  bool is_integer() const;
  bool is_float() const;

  // Checked conversions: throw bitnet::Error (model) when the type does not fit or the value is
  // out of range for the target.
  uint64_t as_u64() const;
  int64_t as_i64() const;
  double as_f64() const;
  bool as_bool() const;
  std::string_view as_string() const;
  const Array& as_array() const;

  // Constructors for the reader and the writer.
  static Value from_u64(ValueType type, uint64_t v);
  static Value from_i64(ValueType type, int64_t v);
  static Value from_f64(ValueType type, double v);
  static Value from_bool(bool v);
  static Value from_string(std::string_view v);  // view into storage owned elsewhere
  static Value from_array(std::shared_ptr<const Array> v);

 private:
  ValueType type_ = ValueType::UINT8;
  uint64_t u_ = 0;
  int64_t i_ = 0;
  double f_ = 0;
  std::string_view s_;
  std::shared_ptr<const Array> array_;
};

// A metadata array. Numeric elements stay as raw little-endian bytes; strings as views; nested
// arrays as Values.
struct Array {
  ValueType element_type = ValueType::UINT8;
  uint64_t size = 0;
  std::span<const std::byte> raw;         // numeric/bool elements, size * scalar_size bytes
  std::vector<std::string_view> strings;  // element_type == STRING
  std::vector<Value> nested;              // element_type == ARRAY

  Value at(uint64_t index) const;  // any element as a Value (checked)
  template <typename T>
  T numeric_at(uint64_t index) const;  // raw numeric element (no conversion)
};

struct TensorInfo {
  std::string_view name;
  TensorType type = TensorType::F32;
  std::array<int64_t, 4> ne{1, 1, 1, 1};  // ne[0] is the row length (fastest varying), as in ggml
  uint32_t n_dims = 0;
  uint64_t offset = 0;  // relative to the start of the data section
  int64_t n_elements = 0;
  int64_t nbytes = 0;
  const std::byte* data = nullptr;  // into the mapping

  int64_t rows() const { return ne[0] > 0 ? n_elements / ne[0] : 0; }
  std::string shape_string() const;  // "[2560, 6912]"
};

class GgufFile {
 public:
  // Maps and validates a file. Throws bitnet::Error (io for missing/unreadable, model for invalid).
  static GgufFile open(const std::string& path);
  // Validates an in-memory image (for the fuzzer and tests); `bytes` must outlive the result.
  static GgufFile parse(std::span<const std::byte> bytes, const std::string& name = "<memory>");

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  const std::vector<std::pair<std::string_view, Value>>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  const Value& get(std::string_view key) const;  // throws naming the key when missing

  // Typed helpers with a default for absent keys; wrong types throw naming the key.
  std::optional<uint64_t> get_u64(std::string_view key) const;
  std::optional<double> get_f64(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const TensorInfo& tensor(std::string_view name) const;  // throws naming the tensor

  // The file mapping; throws bitnet::Error (internal) for a parse()d in-memory image, which has
  // none.
  const MappedFile& mapping() const;
  // The mapping behind open(); null for parse() (bytes owned by the caller).
  const MappedFile* mapping_or_null() const { return mapping_.get(); }

 private:
  std::string path_;
  std::shared_ptr<MappedFile> mapping_;  // null for parse()
  std::span<const std::byte> bytes_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string_view, Value>> kv_;
  std::map<std::string_view, size_t, std::less<>> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string_view, size_t, std::less<>> tensor_index_;

  friend class Parser;
};

}  // namespace bitnet::gguf
