// Value accessors and GgufFile look-ups.
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"

namespace bitnet::gguf {

std::string_view to_string(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
      return "u8";
    case ValueType::INT8:
      return "i8";
    case ValueType::UINT16:
      return "u16";
    case ValueType::INT16:
      return "i16";
    case ValueType::UINT32:
      return "u32";
    case ValueType::INT32:
      return "i32";
    case ValueType::FLOAT32:
      return "f32";
    case ValueType::BOOL:
      return "bool";
    case ValueType::STRING:
      return "str";
    case ValueType::ARRAY:
      return "arr";
    case ValueType::UINT64:
      return "u64";
    case ValueType::INT64:
      return "i64";
    case ValueType::FLOAT64:
      return "f64";
  }
  return "?";
}

size_t scalar_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return 8;
    case ValueType::STRING:
    case ValueType::ARRAY:
      return 0;
  }
  return 0;
}

namespace {
[[noreturn]] void type_error(ValueType have, const char* want) {
  throw Error(ErrorCategory::model, std::string("metadata value of type ") +
                                        std::string(to_string(have)) + " used as " + want);
}
bool is_unsigned(ValueType t) {
  return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 ||
         t == ValueType::UINT64;
}
bool is_signed(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 ||
         t == ValueType::INT64;
}
}  // namespace

bool Value::is_integer() const {
  return is_unsigned(type_) || is_signed(type_);
}
bool Value::is_float() const {
  return type_ == ValueType::FLOAT32 || type_ == ValueType::FLOAT64;
}

uint64_t Value::as_u64() const {
  if (is_unsigned(type_)) return u_;
  if (is_signed(type_)) {
    if (i_ < 0)
      throw Error(ErrorCategory::model, "metadata value " + std::to_string(i_) + " is negative");
    return static_cast<uint64_t>(i_);
  }
  if (type_ == ValueType::BOOL) return u_;
  type_error(type_, "an unsigned integer");
}

int64_t Value::as_i64() const {
  if (is_signed(type_)) return i_;
  if (is_unsigned(type_) || type_ == ValueType::BOOL) {
    if (u_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error(ErrorCategory::model,
                  "metadata value " + std::to_string(u_) + " does not fit int64");
    }
    return static_cast<int64_t>(u_);
  }
  type_error(type_, "an integer");
}

double Value::as_f64() const {
  if (is_float()) return f_;
  if (is_unsigned(type_)) return static_cast<double>(u_);
  if (is_signed(type_)) return static_cast<double>(i_);
  type_error(type_, "a number");
}

bool Value::as_bool() const {
  if (type_ == ValueType::BOOL) return u_ != 0;
  if (is_integer()) return as_u64() != 0;
  type_error(type_, "a bool");
}

std::string_view Value::as_string() const {
  if (type_ != ValueType::STRING) type_error(type_, "a string");
  return s_;
}

const Array& Value::as_array() const {
  if (type_ != ValueType::ARRAY || !array_) type_error(type_, "an array");
  return *array_;
}

Value Value::from_u64(ValueType type, uint64_t v) {
  Value r;
  r.type_ = type;
  r.u_ = v;
  return r;
}
Value Value::from_i64(ValueType type, int64_t v) {
  Value r;
  r.type_ = type;
  r.i_ = v;
  return r;
}
Value Value::from_f64(ValueType type, double v) {
  Value r;
  r.type_ = type;
  r.f_ = v;
  return r;
}
Value Value::from_bool(bool v) {
  Value r;
  r.type_ = ValueType::BOOL;
  r.u_ = v ? 1 : 0;
  return r;
}
Value Value::from_string(std::string_view v) {
  Value r;
  r.type_ = ValueType::STRING;
  r.s_ = v;
  return r;
}
Value Value::from_array(std::shared_ptr<const Array> v) {
  Value r;
  r.type_ = ValueType::ARRAY;
  r.array_ = std::move(v);
  return r;
}

template <typename T>
T Array::numeric_at(uint64_t index) const {
  if (index >= size || sizeof(T) != scalar_size(element_type)) {
    throw Error(ErrorCategory::model,
                "metadata array: element " + std::to_string(index) + " out of range or wrong type");
  }
  T v;
  std::memcpy(&v, raw.data() + index * sizeof(T), sizeof(T));
  return v;
}
template uint8_t Array::numeric_at<uint8_t>(uint64_t) const;
template int8_t Array::numeric_at<int8_t>(uint64_t) const;
template uint16_t Array::numeric_at<uint16_t>(uint64_t) const;
template int16_t Array::numeric_at<int16_t>(uint64_t) const;
template uint32_t Array::numeric_at<uint32_t>(uint64_t) const;
template int32_t Array::numeric_at<int32_t>(uint64_t) const;
template uint64_t Array::numeric_at<uint64_t>(uint64_t) const;
template int64_t Array::numeric_at<int64_t>(uint64_t) const;
template float Array::numeric_at<float>(uint64_t) const;
template double Array::numeric_at<double>(uint64_t) const;

Value Array::at(uint64_t index) const {
  if (index >= size) {
    throw Error(ErrorCategory::model, "metadata array index " + std::to_string(index) +
                                          " out of range (size " + std::to_string(size) + ")");
  }
  switch (element_type) {
    case ValueType::UINT8:
      return Value::from_u64(element_type, numeric_at<uint8_t>(index));
    case ValueType::INT8:
      return Value::from_i64(element_type, numeric_at<int8_t>(index));
    case ValueType::UINT16:
      return Value::from_u64(element_type, numeric_at<uint16_t>(index));
    case ValueType::INT16:
      return Value::from_i64(element_type, numeric_at<int16_t>(index));
    case ValueType::UINT32:
      return Value::from_u64(element_type, numeric_at<uint32_t>(index));
    case ValueType::INT32:
      return Value::from_i64(element_type, numeric_at<int32_t>(index));
    case ValueType::UINT64:
      return Value::from_u64(element_type, numeric_at<uint64_t>(index));
    case ValueType::INT64:
      return Value::from_i64(element_type, numeric_at<int64_t>(index));
    case ValueType::FLOAT32:
      return Value::from_f64(element_type, numeric_at<float>(index));
    case ValueType::FLOAT64:
      return Value::from_f64(element_type, numeric_at<double>(index));
    case ValueType::BOOL:
      return Value::from_bool(numeric_at<uint8_t>(index) != 0);
    case ValueType::STRING:
      return Value::from_string(strings[index]);
    case ValueType::ARRAY:
      return nested[index];
  }
  return {};
}

std::string TensorInfo::shape_string() const {
  std::ostringstream s;
  s << "[";
  for (uint32_t d = 0; d < n_dims; ++d) s << (d ? ", " : "") << ne[d];
  s << "]";
  return s.str();
}

const Value* GgufFile::find(std::string_view key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const Value& GgufFile::get(std::string_view key) const {
  if (const Value* v = find(key)) return *v;
  throw Error(ErrorCategory::model, path_ + ": missing metadata key '" + std::string(key) + "'");
}

namespace {
template <typename F>
auto with_key(const std::string& path, std::string_view key, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(ErrorCategory::model,
                path + ": metadata key '" + std::string(key) + "': " + e.what());
  }
}
}  // namespace

std::optional<uint64_t> GgufFile::get_u64(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  return with_key(path_, key, [&] { return v->as_u64(); });
}
std::optional<double> GgufFile::get_f64(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  return with_key(path_, key, [&] { return v->as_f64(); });
}
std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  return with_key(path_, key, [&] { return v->as_string(); });
}
std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return std::nullopt;
  return with_key(path_, key, [&] { return v->as_bool(); });
}

const MappedFile& GgufFile::mapping() const {
  if (!mapping_)
    throw Error(ErrorCategory::internal, path_ + ": parsed from memory, there is no file mapping");
  return *mapping_;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& GgufFile::tensor(std::string_view name) const {
  if (const TensorInfo* t = find_tensor(name)) return *t;
  throw Error(ErrorCategory::model, path_ + ": missing tensor '" + std::string(name) + "'");
}

}  // namespace bitnet::gguf
