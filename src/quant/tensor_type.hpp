// GGML tensor types: ids as stored in GGUF files, block geometry and byte sizes.
// Every standard ggml type is known (so any file can be validated and inspected); the types the
// engine computes with are listed in docs/formats.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bitnet {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  I2_S = 36,  // Microsoft bitnet.cpp: 2-bit ternary, one float32 scale per tensor after the data
};

struct TensorTypeTraits {
  std::string_view name;
  int64_t block_size;  // values per block
  int64_t type_size;   // bytes per block
};

// nullopt for an id no GGUF writer we know of produces.
std::optional<TensorType> tensor_type_from_id(uint32_t id);
const TensorTypeTraits& traits(TensorType type);
std::string_view to_string(TensorType type);
std::optional<TensorType> tensor_type_from_name(std::string_view name);  // "tq2_0", "TQ2_0", ...

bool is_ternary(TensorType type);

// Bytes of one row of n values; nullopt when n is not a multiple of the block size.
// For I2_S this is n/4 (the per-tensor scale is not part of a row).
std::optional<int64_t> row_nbytes(TensorType type, int64_t n_per_row);

// Bytes of a whole tensor of n values laid out as rows of n_per_row; nullopt when the shape does
// not fit the type (row not a multiple of the block) or overflows. I2_S adds its 32-byte scale
// trailer.
std::optional<int64_t> tensor_nbytes(TensorType type, int64_t n_elements, int64_t n_per_row);

}  // namespace bitnet
