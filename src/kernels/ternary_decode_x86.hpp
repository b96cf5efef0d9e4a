// Decoding of the ternary file formats into 2-bit codes c = w + 1 (0, 1, 2), one byte per weight in
// element order, with AVX2 instructions. Included only by *_avx2.cpp and *_avx512.cpp files, which
// are compiled with the ISA flags; everything here is internal to those files.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/bitlinear.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet::kernels::x86 {
namespace {

constexpr int64_t kChunk = 256;  // weights decoded at a time: one TQ block, two I2_S blocks

// TQ2_0 block (qs[64], d): byte m of each 32-byte half holds values m + 32*l at bits 2l, already as
// w + 1.
inline void decode_tq2_0_block(const uint8_t* block, uint8_t* codes) {
  const __m256i mask = _mm256_set1_epi8(3);
  for (int half = 0; half < 2; ++half) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * half));
    uint8_t* out = codes + 128 * half;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_and_si256(x, mask));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32),
                        _mm256_and_si256(_mm256_srli_epi16(x, 2), mask));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64),
                        _mm256_and_si256(_mm256_srli_epi16(x, 4), mask));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 96),
                        _mm256_and_si256(_mm256_srli_epi16(x, 6), mask));
  }
}

// One I2_S block of 128 values (32 bytes): value m + 32*l at bits 6 - 2l of byte m, codes as
// stored.
inline void decode_i2s_block(const uint8_t* block, uint8_t* codes) {
  const __m256i mask = _mm256_set1_epi8(3);
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes),
                      _mm256_and_si256(_mm256_srli_epi16(x, 6), mask));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 32),
                      _mm256_and_si256(_mm256_srli_epi16(x, 4), mask));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 64),
                      _mm256_and_si256(_mm256_srli_epi16(x, 2), mask));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 96), _mm256_and_si256(x, mask));
}

// TQ1_0 stores trits as a base-3 fraction q/243 per byte: digit n is ((q * 3^n mod 256) * 3) >> 8,
// i.e. 0, 1 or 2 as (q * 3^n mod 256) is below 86, below 171, or above. Byte-wise times 3 is q+q+q.
inline __m256i tq1_digit(__m256i q) {
  const __m256i ge86 = _mm256_cmpeq_epi8(_mm256_max_epu8(q, _mm256_set1_epi8(86)), q);
  const __m256i ge171 =
      _mm256_cmpeq_epi8(_mm256_max_epu8(q, _mm256_set1_epi8(static_cast<char>(171))), q);
  return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171);
}
inline __m256i times3(__m256i q) {
  return _mm256_add_epi8(q, _mm256_add_epi8(q, q));
}

// TQ1_0 block (qs[48], qh[4], d): 32 bytes x 5 trits, 16 bytes x 5 trits, 4 bytes x 4 trits.
inline void decode_tq1_0_block(const uint8_t* block, uint8_t* codes) {
  __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
  for (int n = 0; n < 5; ++n, q = times3(q)) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 32 * n), tq1_digit(q));
  }
  // The 16 + 4 remaining bytes side by side in one register: digits of bytes 32..47 and 48..51.
  alignas(32) uint8_t tail[32] = {};
  std::memcpy(tail, block + 32, 20);
  q = _mm256_load_si256(reinterpret_cast<const __m256i*>(tail));
  alignas(32) uint8_t digits[32];
  for (int n = 0; n < 5; ++n, q = times3(q)) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(digits), tq1_digit(q));
    std::memcpy(codes + 160 + 16 * n, digits, 16);
    if (n < 4) std::memcpy(codes + 240 + 4 * n, digits + 16, 4);
  }
}

// Decodes chunk c (weights [256c, 256c + 256) of row r, fewer at an I2_S row's end) into codes.
// Returns the number of weights decoded (256, or 128 for the last I2_S chunk of an odd row).
inline int64_t decode_chunk(const TernaryWeights& w, int64_t r, int64_t c, uint8_t* codes) {
  switch (w.type) {
    case TensorType::TQ2_0:
      decode_tq2_0_block(w.data + (r * (w.k / kChunk) + c) * 66, codes);
      return kChunk;
    case TensorType::TQ1_0:
      decode_tq1_0_block(w.data + (r * (w.k / kChunk) + c) * 54, codes);
      return kChunk;
    default: {
      const int64_t first = r * w.k + c * kChunk;  // flat index, a multiple of 128
      const uint8_t* block = w.data + first / 4;
      decode_i2s_block(block, codes);
      if (w.k - c * kChunk < kChunk) return 128;
      decode_i2s_block(block + 32, codes + 128);
      return kChunk;
    }
  }
}

}  // namespace
}  // namespace bitnet::kernels::x86
