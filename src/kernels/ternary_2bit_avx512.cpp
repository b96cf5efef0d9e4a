// AVX-512 VNNI kernels for the 2-bit formats (I2_S, TQ2_0), which decode with one shift and one
// mask per 64 weights, so decoding is fused into the dot products instead of going through an L1
// buffer.
//  - GEMV (one token): 16 weight rows at a time, row-major as in the file; activations are permuted
//    once per call to match the register layout a 64-byte load of codes produces; per 256-chunk the
//    16 row accumulators are reduced by a transposing add tree.
//  - GEMM (many tokens): a 16-row tile is decoded once into "row-interleaved" codes, one dword per
//    (row, 4 weights), so that one vpdpbusd with 4 broadcast activation bytes updates the sums of
//    16 rows and no reduction is ever needed; the tile is reused by every token.
// The integer sums are exact and the float rescale runs in the reference's order (see
// ternary_matmul_x86.hpp), so the outputs are bit-identical to ternary_matmul_ref.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/ternary_kernels.hpp"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -Wmaybe-uninitialized reports
// once inlined here: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace bitnet::kernels {
namespace {

constexpr int64_t kChunk = 256;
constexpr int kTile = 16;          // rows per tile = int32 lanes of a zmm
constexpr int kPrefetchRows = 64;  // GEMV prefetch distance, in rows

struct Layout {
  bool i2s;
  int64_t row_bytes;    // bytes from one row to the next
  int64_t chunk_bytes;  // bytes from one 256-chunk to the next within a row
};

Layout layout_of(const TernaryWeights& w) {
  if (w.type == TensorType::I2_S) return {true, w.k / 4, 64};
  return {false, w.k / kChunk * 66, 66};
}

// Bit shift of the l-th 32-value group in a 128-value block: I2_S stores group l at 6 - 2l, TQ2_0
// at 2l.
inline int group_shift(bool i2s, int l) {
  return i2s ? 6 - 2 * l : 2 * l;
}

// out[i] = sum of the lanes of v[i], for 16 vectors.
inline __m512i reduce16(__m512i* v) {
  __m512i t[8];
  for (int i = 0; i < 8; ++i) {
    t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  }
  __m512i u[4];
  for (int i = 0; i < 4; ++i) {
    u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                            _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
  }
  const __m512i w01 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], 0x44),
                                       _mm512_shuffle_i32x4(u[0], u[1], 0xEE));
  const __m512i w23 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], 0x44),
                                       _mm512_shuffle_i32x4(u[2], u[3], 0xEE));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(w01, w23, 0x88),
                          _mm512_shuffle_i32x4(w01, w23, 0xDD));
}

// The first two levels of reduce16 for 4 vectors: lane L (128-bit) of the result holds the sums
// over lane L of a, b, c, d.
inline __m512i reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}

// The last level: 4 half-reduced vectors (rows 4g..4g+3 in part[g]) to one lane per row.
inline __m512i finish_reduce16(const __m512i* u) {
  const __m512i w01 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], 0x44),
                                       _mm512_shuffle_i32x4(u[0], u[1], 0xEE));
  const __m512i w23 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], 0x44),
                                       _mm512_shuffle_i32x4(u[2], u[3], 0xEE));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(w01, w23, 0x88),
                          _mm512_shuffle_i32x4(w01, w23, 0xDD));
}

// fp16 block scales of 16 rows (TQ2_0: the last 2 bytes of the 66-byte block) as floats.
inline __m512 row_scales(const uint8_t* const* rows, int64_t offset) {
  alignas(32) uint16_t h[kTile];
  for (int i = 0; i < kTile; ++i) std::memcpy(&h[i], rows[i] + offset, 2);
  return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(h)));
}

inline uint32_t load_u32(const int8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

std::vector<int8_t>& thread_buffer_i8() {
  thread_local std::vector<int8_t> buffer;
  return buffer;
}

// Stores the 16 float lanes (one per row) of one token's outputs; rows past `rows` are dropped.
inline void store_rows(float* out, __m512 v, int rows) {
  _mm512_mask_storeu_ps(out, static_cast<__mmask16>((1u << rows) - 1), v);
}

}  // namespace

namespace {

// Codes of the l-th 32-value group of each 128-value half of a 64-byte load.
template <bool kI2S, int l>
inline __m512i codes_at(__m512i x) {
  constexpr int shift = kI2S ? 6 - 2 * l : 2 * l;
  const __m512i mask3 = _mm512_set1_epi8(3);
  if constexpr (shift == 0) {
    return _mm512_and_si512(x, mask3);
  } else {
    return _mm512_and_si512(_mm512_srli_epi16(x, shift), mask3);
  }
}

template <bool kI2S>
void gemv_2bit(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const Layout lay = layout_of(w);
  const int64_t full_chunks = w.k / kChunk;
  const bool half_tail = w.k % kChunk != 0;  // I2_S rows of 128 * odd
  const int8_t* q = a.row(0);

  // Permute each 256-chunk so that 64-byte vector l holds [q(l*32 .. +32), q(128 + l*32 .. +32)]:
  // the values a 64-byte load of codes yields at the l-th shift.
  std::vector<int8_t>& perm = thread_buffer_i8();
  perm.resize(static_cast<size_t>(w.k));
  for (int64_t c = 0; c < full_chunks; ++c) {
    for (int l = 0; l < 4; ++l) {
      std::memcpy(&perm[c * kChunk + l * 64], q + c * kChunk + l * 32, 32);
      std::memcpy(&perm[c * kChunk + l * 64 + 32], q + c * kChunk + 128 + l * 32, 32);
    }
  }
  if (half_tail) std::memcpy(&perm[full_chunks * kChunk], q + full_chunks * kChunk, 128);

  for (int64_t r0 = row_begin; r0 < row_end; r0 += kTile) {
    const int rows = static_cast<int>(std::min<int64_t>(kTile, row_end - r0));
    const uint8_t* row_ptr[kTile];
    for (int i = 0; i < kTile; ++i) {
      row_ptr[i] = w.data + std::min<int64_t>(r0 + i, row_end - 1) * lay.row_bytes;
    }
    __m512 acc_f = _mm512_setzero_ps();
    // Row sums are kept half-reduced (reduce16's first two levels, which are linear): part[g] holds
    // rows 4g..4g+3 summed within each 128-bit lane. I2_S accumulates them over the whole row;
    // TQ2_0 finishes the reduction per block for the block's scale.
    __m512i part[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                       _mm512_setzero_si512()};
    for (int64_t c = 0; c < full_chunks; ++c) {
      const int8_t* pa = perm.data() + c * kChunk;
      const __m512i a0 = _mm512_loadu_si512(pa), a1 = _mm512_loadu_si512(pa + 64);
      const __m512i a2 = _mm512_loadu_si512(pa + 128), a3 = _mm512_loadu_si512(pa + 192);
      const auto row_sum = [&](int i) {
        const uint8_t* p = row_ptr[i] + c * lay.chunk_bytes;
        // 16 row streams defeat the hardware prefetcher: fetch rows kPrefetchRows ahead into L2.
        _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchRows * lay.row_bytes), _MM_HINT_T1);
        const __m512i x = _mm512_loadu_si512(p);
        __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), codes_at<kI2S, 0>(x), a0);
        s = _mm512_dpbusd_epi32(s, codes_at<kI2S, 1>(x), a1);
        s = _mm512_dpbusd_epi32(s, codes_at<kI2S, 2>(x), a2);
        return _mm512_dpbusd_epi32(s, codes_at<kI2S, 3>(x), a3);
      };
#pragma GCC unroll 4
      for (int g = 0; g < 4; ++g) {
        part[g] = _mm512_add_epi32(part[g], reduce4(row_sum(4 * g), row_sum(4 * g + 1),
                                                    row_sum(4 * g + 2), row_sum(4 * g + 3)));
      }
      if constexpr (!kI2S) {  // acc += (float)(sum(c*q) - sum(q)) * (d_act * d_w), as the reference
        const __m512i sums = finish_reduce16(part);
        for (auto& v : part) v = _mm512_setzero_si512();
        const __m512 d =
            _mm512_mul_ps(_mm512_set1_ps(a.scale[c]), row_scales(row_ptr, c * 66 + 64));
        const __m512i s = _mm512_sub_epi32(sums, _mm512_set1_epi32(a.bsum[c]));
        acc_f = _mm512_add_ps(acc_f, _mm512_mul_ps(_mm512_cvtepi32_ps(s), d));
      }
    }
    if constexpr (kI2S) {
      if (half_tail) {  // the last 128 values of the row, in natural order
        const int8_t* pa = perm.data() + full_chunks * kChunk;
        __m512i act[4];
        for (int l = 0; l < 4; ++l) {
          act[l] = _mm512_zextsi256_si512(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pa + 32 * l)));
        }
        const auto row_sum = [&](int i) {
          const __m512i x = _mm512_zextsi256_si512(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row_ptr[i] + full_chunks * 64)));
          __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), codes_at<true, 0>(x), act[0]);
          s = _mm512_dpbusd_epi32(s, codes_at<true, 1>(x), act[1]);
          s = _mm512_dpbusd_epi32(s, codes_at<true, 2>(x), act[2]);
          return _mm512_dpbusd_epi32(s, codes_at<true, 3>(x), act[3]);
        };
        for (int g = 0; g < 4; ++g) {
          part[g] = _mm512_add_epi32(part[g], reduce4(row_sum(4 * g), row_sum(4 * g + 1),
                                                      row_sum(4 * g + 2), row_sum(4 * g + 3)));
        }
      }
      // ((float)sum(c*q) - (float)sum(q)) / s * tensor_scale
      acc_f = _mm512_sub_ps(_mm512_cvtepi32_ps(finish_reduce16(part)),
                            _mm512_set1_ps(static_cast<float>(a.qsum[0])));
      acc_f = _mm512_mul_ps(_mm512_div_ps(acc_f, _mm512_set1_ps(a.scale[0])),
                            _mm512_set1_ps(w.tensor_scale));
    }
    store_rows(y + r0, acc_f, rows);
  }
}

}  // namespace

void gemv_2bit_avx512(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                      int64_t row_end) {
  if (w.type == TensorType::I2_S) {
    gemv_2bit<true>(w, a, y, row_begin, row_end);
  } else {
    gemv_2bit<false>(w, a, y, row_begin, row_end);
  }
}

void gemm_2bit_avx512(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                      int64_t row_end) {
  constexpr int kTokens = 8;  // token rows per register tile
  const Layout lay = layout_of(w);
  const int64_t groups = w.k / 4;  // (row, 4 weights) dwords per row
  const int64_t nb = lay.i2s ? 1 : w.k / kChunk;

  // Activations permuted per 128-block so that bytes 4m..4m+3 are the 4 values whose codes share
  // byte m of the block: value (l*32 + m) at position l (TQ2_0) or 3 - l (I2_S, reversed shifts).
  std::vector<int8_t>& perm = thread_buffer_i8();
  perm.resize(static_cast<size_t>(a.n_tokens * w.k));
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const int8_t* src = a.row(t);
    int8_t* dst = perm.data() + t * w.k;
    for (int64_t b = 0; b < w.k; b += 128) {
      for (int m = 0; m < 32; ++m) {
        for (int l = 0; l < 4; ++l) dst[b + 4 * m + l] = src[b + (lay.i2s ? 3 - l : l) * 32 + m];
      }
    }
  }
  thread_local std::vector<uint8_t> tile_storage;
  tile_storage.resize(static_cast<size_t>(groups * 64 + 64));
  auto* tile_codes = reinterpret_cast<__m512i*>(
      (reinterpret_cast<uintptr_t>(tile_storage.data()) + 63) & ~uintptr_t{63});
  thread_local std::vector<float> tile_scales;
  tile_scales.resize(static_cast<size_t>(nb * kTile));

  const __m512i low_byte = _mm512_set1_epi32(0xFF);
  const __m512i mask3 = _mm512_set1_epi32(0x03030303);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kTile) {
    const int rows = static_cast<int>(std::min<int64_t>(kTile, row_end - r0));
    const __mmask16 valid = static_cast<__mmask16>((1u << rows) - 1);
    const __m512i row_offsets =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(static_cast<int>(lay.row_bytes)));
    const uint8_t* tile_base = w.data + r0 * lay.row_bytes;

    // Decode: gather 4 bytes of every row, then spread each byte's 4 codes over a dword
    // (b | b << 6 | b << 12 | b << 18, masked to bits 0-1 of each byte).
    for (int64_t blk = 0; blk < w.k / 128; ++blk) {
      const uint8_t* base = tile_base + (lay.i2s ? blk * 32 : (blk / 2) * 66 + (blk % 2) * 32);
      for (int j = 0; j < 8; ++j) {
        const __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, row_offsets,
                                                      base + 4 * j, 1);
        for (int i = 0; i < 4; ++i) {
          const __m512i b = _mm512_and_si512(_mm512_srli_epi32(g, 8 * i), low_byte);
          const __m512i spread = _mm512_ternarylogic_epi32(
              b, _mm512_slli_epi32(b, 6), _mm512_slli_epi32(b, 12), 0xFE);  // a | b | c
          tile_codes[blk * 32 + 4 * j + i] =
              _mm512_and_si512(_mm512_or_si512(spread, _mm512_slli_epi32(b, 18)), mask3);
        }
      }
    }
    if (!lay.i2s) {
      const uint8_t* row_ptr[kTile];
      for (int i = 0; i < kTile; ++i) {
        row_ptr[i] = w.data + std::min<int64_t>(r0 + i, row_end - 1) * lay.row_bytes;
      }
      for (int64_t b = 0; b < nb; ++b)
        _mm512_storeu_ps(&tile_scales[b * kTile], row_scales(row_ptr, b * 66 + 64));
    }

    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTokens) {
      const int64_t tokens = std::min<int64_t>(kTokens, a.n_tokens - t0);
      const int8_t* act[kTokens];
      for (int t = 0; t < kTokens; ++t)
        act[t] = perm.data() + (t0 + std::min<int64_t>(t, tokens - 1)) * w.k;
      __m512 acc_f[kTokens];
      __m512i acc[kTokens];
      for (int t = 0; t < kTokens; ++t) {
        acc_f[t] = _mm512_setzero_ps();
        acc[t] = _mm512_setzero_si512();
      }
      const int64_t block_groups = lay.i2s ? groups : kChunk / 4;
      for (int64_t b = 0; b < nb; ++b) {
        if (!lay.i2s) {
          for (int t = 0; t < kTokens; ++t) acc[t] = _mm512_setzero_si512();
        }
        const int64_t g_end = (b + 1) * block_groups;
        for (int64_t g = b * block_groups; g < g_end; ++g) {
          const __m512i wv = tile_codes[g];
#pragma GCC unroll 8
          for (int t = 0; t < kTokens; ++t) {
            acc[t] = _mm512_dpbusd_epi32(
                acc[t], wv, _mm512_set1_epi32(static_cast<int>(load_u32(act[t] + 4 * g))));
          }
        }
        if (!lay.i2s) {
          const __m512 dw = _mm512_loadu_ps(&tile_scales[b * kTile]);
          for (int t = 0; t < kTokens; ++t) {
            const int64_t tok = t0 + std::min<int64_t>(t, tokens - 1);
            const __m512 d = _mm512_mul_ps(_mm512_set1_ps(a.scale[tok * nb + b]), dw);
            const __m512i s = _mm512_sub_epi32(acc[t], _mm512_set1_epi32(a.bsum[tok * nb + b]));
            acc_f[t] = _mm512_add_ps(acc_f[t], _mm512_mul_ps(_mm512_cvtepi32_ps(s), d));
          }
        }
      }
      for (int t = 0; t < tokens; ++t) {
        const int64_t tok = t0 + t;
        __m512 out = acc_f[t];
        if (lay.i2s) {
          out = _mm512_sub_ps(_mm512_cvtepi32_ps(acc[t]),
                              _mm512_set1_ps(static_cast<float>(a.qsum[tok])));
          out = _mm512_mul_ps(_mm512_div_ps(out, _mm512_set1_ps(a.scale[tok])),
                              _mm512_set1_ps(w.tensor_scale));
        }
        store_rows(y + tok * w.n + r0, out, rows);
      }
    }
  }
}

}  // namespace bitnet::kernels
