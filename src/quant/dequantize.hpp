// Scalar dequantization and ternary quantization: the obviously-correct versions, kept forever as
// the oracle that every faster path is tested against.
#pragma once

#include <cstdint>
#include <span>

#include "quant/tensor_type.hpp"

namespace bitnet {

// True when dequantize_row/dequantize_tensor support the type.
bool can_dequantize(TensorType type);

// Dequantizes n values (a multiple of the type's block size) starting at a block boundary.
// Not for I2_S, whose scale lives at the end of the tensor: use dequantize_tensor or i2s_* below.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);

// Dequantizes a whole tensor of n values (n_per_row per row) as stored in a GGUF file.
void dequantize_tensor(TensorType type, const void* src, float* dst, int64_t n, int64_t n_per_row);

// Quantizes a whole tensor (rows of n_per_row values) to a ternary type, as the references do:
//  - TQ1_0/TQ2_0 (ggml): d = max|x| of each 256-block (stored fp16), q = lround(x / d);
//  - I2_S (bitnet.cpp): scale = max|x| of the tensor (float32 trailer), q = sign(x), 0 if |x| <
//  1e-6.
// `dst` must have tensor_nbytes() bytes. Exactly ternary inputs round-trip bit for bit. For TQ
// types any run of whole rows may be quantized on its own (blocks never span rows).
void quantize_ternary(TensorType type, const float* src, void* dst, int64_t n, int64_t n_per_row);

// The 256 ternary values (-1, 0, +1) of one TQ1_0 or TQ2_0 block, in element order; the block's
// fp16 scale d is its last two bytes.
void tq_unpack_block(TensorType type, const void* block, int8_t* trits);
float tq_block_scale(TensorType type, const void* block);

// I2_S (bitnet.cpp x86 layout): 128-value blocks of 32 bytes; value j of a block sits in byte j %
// 32 at bit shift 6 - 2*(j / 32); codes 0 = -1, 1 = 0, 2 = +1. The float32 scale follows the n/4
// bytes.
float i2s_scale(const void* tensor_data, int64_t n);
// Packs n values (a multiple of 128) into I2_S codes with bitnet.cpp's sign rule, without the scale
// trailer: for writing a tensor in pieces (the caller stores the scale at byte n_total/4).
void i2s_pack(const float* src, uint8_t* dst, int64_t n);
inline int i2s_code(const uint8_t* packed, int64_t j) {  // j is the flat index into the tensor
  const uint8_t* block = packed + (j / 128) * 32;
  const int64_t k = j % 128;
  return (block[k % 32] >> (6 - 2 * (k / 32))) & 3;
}

}  // namespace bitnet
