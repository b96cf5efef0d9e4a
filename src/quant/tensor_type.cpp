#include "quant/tensor_type.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace bitnet {
namespace {

struct Entry {
  TensorType type;
  TensorTypeTraits traits;
};

// Geometry from the ggml type table (block size, bytes per block).
constexpr std::array kTypes = {
    Entry{TensorType::F32, {"F32", 1, 4}},
    Entry{TensorType::F16, {"F16", 1, 2}},
    Entry{TensorType::Q4_0, {"Q4_0", 32, 18}},
    Entry{TensorType::Q4_1, {"Q4_1", 32, 20}},
    Entry{TensorType::Q5_0, {"Q5_0", 32, 22}},
    Entry{TensorType::Q5_1, {"Q5_1", 32, 24}},
    Entry{TensorType::Q8_0, {"Q8_0", 32, 34}},
    Entry{TensorType::Q8_1, {"Q8_1", 32, 36}},
    Entry{TensorType::Q2_K, {"Q2_K", 256, 84}},
    Entry{TensorType::Q3_K, {"Q3_K", 256, 110}},
    Entry{TensorType::Q4_K, {"Q4_K", 256, 144}},
    Entry{TensorType::Q5_K, {"Q5_K", 256, 176}},
    Entry{TensorType::Q6_K, {"Q6_K", 256, 210}},
    Entry{TensorType::Q8_K, {"Q8_K", 256, 292}},
    Entry{TensorType::IQ2_XXS, {"IQ2_XXS", 256, 66}},
    Entry{TensorType::IQ2_XS, {"IQ2_XS", 256, 74}},
    Entry{TensorType::IQ3_XXS, {"IQ3_XXS", 256, 98}},
    Entry{TensorType::IQ1_S, {"IQ1_S", 256, 50}},
    Entry{TensorType::IQ4_NL, {"IQ4_NL", 32, 18}},
    Entry{TensorType::IQ3_S, {"IQ3_S", 256, 110}},
    Entry{TensorType::IQ2_S, {"IQ2_S", 256, 82}},
    Entry{TensorType::IQ4_XS, {"IQ4_XS", 256, 136}},
    Entry{TensorType::I8, {"I8", 1, 1}},
    Entry{TensorType::I16, {"I16", 1, 2}},
    Entry{TensorType::I32, {"I32", 1, 4}},
    Entry{TensorType::I64, {"I64", 1, 8}},
    Entry{TensorType::F64, {"F64", 1, 8}},
    Entry{TensorType::IQ1_M, {"IQ1_M", 256, 56}},
    Entry{TensorType::BF16, {"BF16", 1, 2}},
    Entry{TensorType::TQ1_0, {"TQ1_0", 256, 54}},
    Entry{TensorType::TQ2_0, {"TQ2_0", 256, 66}},
    // I2_S: 4 values per byte; rows must be multiples of 128 (the x86 block of bitnet.cpp).
    Entry{TensorType::I2_S, {"I2_S", 128, 32}},
};

const Entry* find(TensorType type) {
  for (const auto& e : kTypes) {
    if (e.type == type) return &e;
  }
  return nullptr;
}

bool mul_overflows(int64_t a, int64_t b, int64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

std::optional<TensorType> tensor_type_from_id(uint32_t id) {
  const auto type = static_cast<TensorType>(id);
  if (find(type) == nullptr) return std::nullopt;
  return type;
}

const TensorTypeTraits& traits(TensorType type) {
  static constexpr TensorTypeTraits kUnknown{"UNKNOWN", 1, 0};
  const Entry* e = find(type);
  return e != nullptr ? e->traits : kUnknown;
}

std::string_view to_string(TensorType type) {
  return traits(type).name;
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const auto& e : kTypes) {
    if (e.traits.name == upper) return e.type;
  }
  return std::nullopt;
}

bool is_ternary(TensorType type) {
  return type == TensorType::TQ1_0 || type == TensorType::TQ2_0 || type == TensorType::I2_S;
}

std::optional<int64_t> row_nbytes(TensorType type, int64_t n_per_row) {
  const Entry* e = find(type);
  if (e == nullptr || n_per_row < 0 || n_per_row % e->traits.block_size != 0) return std::nullopt;
  int64_t bytes = 0;
  if (mul_overflows(n_per_row / e->traits.block_size, e->traits.type_size, &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

std::optional<int64_t> tensor_nbytes(TensorType type, int64_t n_elements, int64_t n_per_row) {
  if (n_per_row <= 0 || n_elements < 0 || n_elements % n_per_row != 0) return std::nullopt;
  const auto row = row_nbytes(type, n_per_row);
  if (!row) return std::nullopt;
  int64_t bytes = 0;
  if (mul_overflows(n_elements / n_per_row, *row, &bytes)) return std::nullopt;
  if (type == TensorType::I2_S) {
    if (__builtin_add_overflow(bytes, int64_t{32}, &bytes)) return std::nullopt;
  }
  return bytes;
}

}  // namespace bitnet
