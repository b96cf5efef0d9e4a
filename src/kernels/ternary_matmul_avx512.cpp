// AVX-512 VNNI kernels for the 2-bit formats (I2_S, TQ2_0), which decode with one shift and one
// mask per 64 weights, so decoding is fused into the dot products instead of going through an L1
// buffer.
//  - GEMV (one token): 16 weight rows at a time, row-major as in the file; activations are permuted
//    once per call to match the register layout a 64-byte load of codes produces; per 256-chunk the
//    16 row accumulators are reduced by a transposing add tree.
//  - Small batches (2-16 tokens, the server's decode step): the GEMV's decode, two rows at a
//    time, each decoded chunk dotted with up to 8 tokens, so the weights are read once per step.
//  - GEMM (more tokens): a 16-row tile is decoded once (by gathers) into "row-interleaved" codes,
//    one dword per (row, 4 weights), so that one vpdpbusd with 4 broadcast activation bytes
//    updates the sums of 16 rows and no reduction is ever needed; the tile is reused by every
//    token.
// The integer sums are exact and the float rescale runs in the reference's order (see
// ternary_matmul_x86.hpp), so the outputs are bit-identical to ternary_matmul_ref.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/ternary_kernels.hpp"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -Wmaybe-uninitialized (and,
// for the broadcasts and inserts of the small-batch kernel, -Wuninitialized) reports once inlined
// here: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace bitnet::kernels {
namespace {

constexpr int64_t kChunk = 256;
constexpr int kTile = 16;          // rows per tile = int32 lanes of a zmm
constexpr int kPrefetchRows = 64;  // GEMV prefetch distance, in rows

struct Layout {
  const uint8_t* base;  // row 0
  const float* scales;  // TQ2_0 repacked: float scales in [n/16][nb][16] tiles; else null
  bool i2s;
  bool tq1;
  int64_t row_bytes;     // bytes from one row to the next
  int64_t chunk_bytes;   // bytes from one 256-chunk to the next within a row
  int64_t scale_offset;  // TQ: the fp16 block scale's offset in the block
};

Layout layout_of(const TernaryWeights& w) {
  switch (w.type) {
    case TensorType::I2_S:
      return {w.data, nullptr, true, false, w.k / 4, 64, 0};
    default:
      // TQ2_0 and TQ1_0 repacked at load share TQ2_0's 2-bit code layout.
      if (w.packed_codes) return {w.packed_codes, w.packed_scales, false, false, w.k / 4, 64, 0};
      if (w.type == TensorType::TQ1_0) {
        return {w.data, nullptr, false, true, w.k / kChunk * 54, 54, 52};
      }
      return {w.data, nullptr, false, false, w.k / kChunk * 66, 66, 64};
  }
}

// The first two levels of a 16-vector transposing add tree, for 4 vectors: lane L (128-bit) of the
// result holds the sums over lane L of a, b, c, d.
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

// The weight scales of block b for rows r0..r0+15 (row_ptr: those rows, clamped to the range).
inline __m512 block_scales(const Layout& lay, int64_t nb, int64_t r0, int64_t last_row, int64_t b,
                           const uint8_t* const* row_ptr) {
  if (!lay.scales) return row_scales(row_ptr, b * lay.chunk_bytes + lay.scale_offset);
  if (r0 % kTile == 0) return _mm512_loadu_ps(lay.scales + ((r0 / kTile) * nb + b) * kTile);
  alignas(64) float d[kTile];  // a range not starting on a tile: row by row
  for (int i = 0; i < kTile; ++i) {
    const int64_t r = std::min(r0 + i, last_row);
    d[i] = lay.scales[((r / kTile) * nb + b) * kTile + r % kTile];
  }
  return _mm512_load_ps(d);
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

// ggml's hsum_float_8 over the 8 lane accumulators of one output (see tq_row_dot_ggml).
inline float hsum8_ggml(const float* l) {
  return ((l[4] + l[0]) + (l[6] + l[2])) + ((l[5] + l[1]) + (l[7] + l[3]));
}

// Per-block TQ rescale of 16 rows in 8 row pairs: lanes[h] holds the 8 ggml lanes of rows 2h (low
// half) and 2h + 1; acc[h] += (float)(lanes - sub) * (d_act * d_w), one FMA per lane, as the
// oracle.
inline void accumulate_row_pairs(const __m512i* lanes, __m256i sub, __m512 d_rows, __m512* acc) {
  const __m512i sub2 = _mm512_broadcast_i64x4(sub);
#pragma GCC unroll 8
  for (int h = 0; h < 8; ++h) {
    const __m512i idx = _mm512_set_epi32(2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1,
                                         2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h, 2 * h, 2 * h,
                                         2 * h, 2 * h, 2 * h, 2 * h, 2 * h);
    const __m512 d = _mm512_permutexvar_ps(idx, d_rows);
    acc[h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lanes[h], sub2)), d, acc[h]);
  }
}

// The blocks order (SumOrder::blocks) of accumulate_row_pairs: each row's 8 lanes are summed in
// int32 (exact) and the block's sum goes into the row's lane 0 with one FMA; the other lanes stay
// 0, so store_row_pairs' ggml hsum returns lane 0 unchanged.
inline void accumulate_row_pair_blocks(const __m512i* lanes, __m256i sub, __m512 d_rows,
                                       __m512* acc) {
  const __m512i sub2 = _mm512_broadcast_i64x4(sub);
#pragma GCC unroll 8
  for (int h = 0; h < 8; ++h) {
    __m512i s = _mm512_sub_epi32(lanes[h], sub2);
    s = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, _MM_PERM_BADC));
    s = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, _MM_PERM_CDAB));
    s = _mm512_add_epi32(s, _mm512_shuffle_i32x4(s, s, 0xB1));  // each 256-bit half: its total
    const __m512i idx = _mm512_set_epi32(2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1,
                                         2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h, 2 * h, 2 * h,
                                         2 * h, 2 * h, 2 * h, 2 * h, 2 * h);
    const __m512 d = _mm512_permutexvar_ps(idx, d_rows);
    acc[h] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0x0101, s), d, acc[h]);
  }
}

// Final ggml horizontal sums of the row-pair accumulators, stored for `rows` rows.
inline void store_row_pairs(float* out, const __m512* acc, int rows) {
  alignas(64) float lanes[kTile][8];
  for (int h = 0; h < 8; ++h) _mm512_store_ps(lanes[2 * h], acc[h]);
  for (int i = 0; i < rows; ++i) out[i] = hsum8_ggml(lanes[i]);
}

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

// One row's 64-byte chunk of 2-bit codes against the 4 permuted activation vectors of its
// 256-chunk (16 dwords of partial sums), prefetching the row kPrefetchRows ahead into L2: 16 row
// streams defeat the hardware prefetcher.
template <bool kI2S>
inline __m512i chunk_dot(const uint8_t* p, int64_t row_bytes, __m512i a0, __m512i a1, __m512i a2,
                         __m512i a3) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchRows * row_bytes), _MM_HINT_T1);
  const __m512i x = _mm512_loadu_si512(p);
  __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), codes_at<kI2S, 0>(x), a0);
  s = _mm512_dpbusd_epi32(s, codes_at<kI2S, 1>(x), a1);
  s = _mm512_dpbusd_epi32(s, codes_at<kI2S, 2>(x), a2);
  return _mm512_dpbusd_epi32(s, codes_at<kI2S, 3>(x), a3);
}

// Permutes each 256-chunk of q so that 64-byte vector l holds [q(l*32 .. +32), q(128 + l*32 ..
// +32)]: the values a 64-byte load of 2-bit codes yields at the l-th shift.
void permute_for_2bit(const int8_t* q, int64_t k, std::vector<int8_t>& perm) {
  const int64_t full_chunks = k / kChunk;
  perm.resize(static_cast<size_t>(k));
  for (int64_t c = 0; c < full_chunks; ++c) {
    for (int l = 0; l < 4; ++l) {
      std::memcpy(&perm[c * kChunk + l * 64], q + c * kChunk + l * 32, 32);
      std::memcpy(&perm[c * kChunk + l * 64 + 32], q + c * kChunk + 128 + l * 32, 32);
    }
  }
  if (k % kChunk != 0) std::memcpy(&perm[full_chunks * kChunk], q + full_chunks * kChunk, 128);
}

std::vector<int32_t>& thread_buffer_i32() {
  thread_local std::vector<int32_t> buffer;
  return buffer;
}

// One token x TQ2_0, 16 rows at a time. A row's 4 dpbusd over a 256-chunk leave dwords j and j + 8
// holding the elements e with (e % 32) / 4 == j: their sum is ggml's lane j. Row pairs are folded
// into one vector of 2 x 8 lanes and rescaled per block as the oracle.
void gemv_tq2_0(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                int64_t row_end) {
  const Layout lay = layout_of(w);
  const int64_t nb = w.k / kChunk;
  std::vector<int8_t>& perm = thread_buffer_i8();
  permute_for_2bit(a.row(0), w.k, perm);
  std::vector<int32_t>& sub = thread_buffer_i32();
  sub.resize(static_cast<size_t>(w.k / 32));
  q8k_sub_block_sums(a, sub.data());

  for (int64_t r0 = row_begin; r0 < row_end; r0 += kTile) {
    const int rows = static_cast<int>(std::min<int64_t>(kTile, row_end - r0));
    const uint8_t* row_ptr[kTile];
    for (int i = 0; i < kTile; ++i) {
      row_ptr[i] = lay.base + std::min<int64_t>(r0 + i, row_end - 1) * lay.row_bytes;
    }
    __m512 acc[8];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t c = 0; c < nb; ++c) {
      const int8_t* pa = perm.data() + c * kChunk;
      const __m512i a0 = _mm512_loadu_si512(pa), a1 = _mm512_loadu_si512(pa + 64);
      const __m512i a2 = _mm512_loadu_si512(pa + 128), a3 = _mm512_loadu_si512(pa + 192);
      const auto row_dot = [&](int i) {
        return chunk_dot<false>(row_ptr[i] + c * lay.chunk_bytes, lay.row_bytes, a0, a1, a2, a3);
      };
      __m512i lanes[8];
#pragma GCC unroll 8
      for (int h = 0; h < 8; ++h) {
        const __m512i s0 = row_dot(2 * h), s1 = row_dot(2 * h + 1);
        lanes[h] = _mm512_add_epi32(_mm512_shuffle_i32x4(s0, s1, 0x44),
                                    _mm512_shuffle_i32x4(s0, s1, 0xEE));
      }
      const __m512 d = _mm512_mul_ps(_mm512_set1_ps(a.scale[c]),
                                     block_scales(lay, nb, r0, row_end - 1, c, row_ptr));
      accumulate_row_pairs(
          lanes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sub.data() + c * 8)), d, acc);
    }
    store_row_pairs(y + r0, acc, rows);
  }
}

// One token x TQ2_0 in the blocks order: per 256-chunk the 16 rows' sums are fully reduced
// (reduce4 + finish_reduce16), then rescaled with one FMA per row and block.
void gemv_tq2_0_blocks(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                       int64_t row_end) {
  const Layout lay = layout_of(w);
  const int64_t nb = w.k / kChunk;
  std::vector<int8_t>& perm = thread_buffer_i8();
  permute_for_2bit(a.row(0), w.k, perm);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kTile) {
    const int rows = static_cast<int>(std::min<int64_t>(kTile, row_end - r0));
    const uint8_t* row_ptr[kTile];
    for (int i = 0; i < kTile; ++i) {
      row_ptr[i] = lay.base + std::min<int64_t>(r0 + i, row_end - 1) * lay.row_bytes;
    }
    __m512 acc = _mm512_setzero_ps();
    for (int64_t c = 0; c < nb; ++c) {
      const int8_t* pa = perm.data() + c * kChunk;
      const __m512i a0 = _mm512_loadu_si512(pa), a1 = _mm512_loadu_si512(pa + 64);
      const __m512i a2 = _mm512_loadu_si512(pa + 128), a3 = _mm512_loadu_si512(pa + 192);
      const auto row_sum = [&](int i) {
        return chunk_dot<false>(row_ptr[i] + c * lay.chunk_bytes, lay.row_bytes, a0, a1, a2, a3);
      };
      __m512i part[4];
#pragma GCC unroll 4
      for (int g = 0; g < 4; ++g) {
        part[g] =
            reduce4(row_sum(4 * g), row_sum(4 * g + 1), row_sum(4 * g + 2), row_sum(4 * g + 3));
      }
      // sum(code * q) - sum(q) = sum(w * q), exact
      const __m512i sums = _mm512_sub_epi32(finish_reduce16(part), _mm512_set1_epi32(a.bsum[c]));
      const __m512 d = _mm512_mul_ps(_mm512_set1_ps(a.scale[c]),
                                     block_scales(lay, nb, r0, row_end - 1, c, row_ptr));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), d, acc);
    }
    store_rows(y + r0, acc, rows);
  }
}

template <bool kI2S>
void gemv_2bit(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const Layout lay = layout_of(w);
  const int64_t full_chunks = w.k / kChunk;
  const bool half_tail = w.k % kChunk != 0;  // I2_S rows of 128 * odd
  const int8_t* q = a.row(0);

  std::vector<int8_t>& perm = thread_buffer_i8();
  permute_for_2bit(q, w.k, perm);

  for (int64_t r0 = row_begin; r0 < row_end; r0 += kTile) {
    const int rows = static_cast<int>(std::min<int64_t>(kTile, row_end - r0));
    const uint8_t* row_ptr[kTile];
    for (int i = 0; i < kTile; ++i) {
      row_ptr[i] = lay.base + std::min<int64_t>(r0 + i, row_end - 1) * lay.row_bytes;
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
        return chunk_dot<kI2S>(row_ptr[i] + c * lay.chunk_bytes, lay.row_bytes, a0, a1, a2, a3);
      };
#pragma GCC unroll 4
      for (int g = 0; g < 4; ++g) {
        part[g] = _mm512_add_epi32(part[g], reduce4(row_sum(4 * g), row_sum(4 * g + 1),
                                                    row_sum(4 * g + 2), row_sum(4 * g + 3)));
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

// TQ1_0 trit n of every byte: ((q * 3^n mod 256) * 3) >> 8, i.e. (q_n >= 86) + (q_n >= 171).
inline __m512i tq1_digits(__m512i q) {
  const __m512i ones = _mm512_set1_epi8(1);
  const __mmask64 ge86 = _mm512_cmpge_epu8_mask(q, _mm512_set1_epi8(86));
  const __mmask64 ge171 = _mm512_cmpge_epu8_mask(q, _mm512_set1_epi8(static_cast<char>(171)));
  const __m512i c = _mm512_maskz_mov_epi8(ge86, ones);
  return _mm512_mask_add_epi8(c, ge171, c, ones);
}
inline __m512i times3(__m512i q) {
  return _mm512_add_epi8(q, _mm512_add_epi8(q, q));
}

// One token x TQ1_0, two rows per vector (one per 256-bit half, so the digit extraction serves
// both). dpbusd sums 4 adjacent bytes into a dword, so every half is laid out for dword j to hold
// elements of ggml's lane j ((e % 32) / 4 == j) of the block:
//  - qs[0..32): trit n of byte m is element 32n + m, activations in element order;
//  - qs[32..48) (broadcast to both 128-bit lanes of the half): trit n of byte m is element
//    160 + 16n + m, lanes 0-3 for even n, 4-7 for odd n: the activations sit in the matching
//    128-bit lane, zeros in the other;
//  - qh[0..4) (broadcast, dword 4 + n multiplied by 3^n): trit n is elements 240 + 4n .. + 3, lane
//    4 + n, activations [zeros16, q(240 .. 256)].
void gemv_tq1_0(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                int64_t row_end) {
  const Layout lay = layout_of(w);
  const int64_t nb = w.k / kChunk;
  const int8_t* q = a.row(0);
  constexpr int64_t kBlockActs = 160 + 5 * 32 + 32;
  std::vector<int8_t>& perm = thread_buffer_i8();
  perm.assign(static_cast<size_t>(nb * kBlockActs), 0);
  for (int64_t b = 0; b < nb; ++b) {
    int8_t* dst = perm.data() + b * kBlockActs;
    const int8_t* src = q + b * kChunk;
    std::memcpy(dst, src, 160);
    for (int n = 0; n < 5; ++n)
      std::memcpy(dst + 160 + 32 * n + 16 * (n % 2), src + 160 + 16 * n, 16);
    std::memcpy(dst + 320 + 16, src + 240, 16);
  }
  std::vector<int32_t>& sub = thread_buffer_i32();
  sub.resize(static_cast<size_t>(w.k / 32));
  q8k_sub_block_sums(a, sub.data());

  for (int64_t r0 = row_begin; r0 < row_end; r0 += kTile) {
    const int rows = static_cast<int>(std::min<int64_t>(kTile, row_end - r0));
    const uint8_t* row_ptr[kTile];
    for (int i = 0; i < kTile; ++i) {
      row_ptr[i] = lay.base + std::min<int64_t>(r0 + i, row_end - 1) * lay.row_bytes;
    }
    __m512 acc[8];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const int8_t* pa = perm.data() + b * kBlockActs;
      // The block's 11 activation vectors, each in both 256-bit halves (one row per half).
      __m512i act[11];
      for (int n = 0; n < 11; ++n) {
        act[n] = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pa + 32 * n)));
      }
      const auto load256 = [](const uint8_t* p) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      };
      const auto bcast128 = [](const uint8_t* p) {
        return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      };
      const auto halves = [](__m256i lo, __m256i hi) {
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      };
      // Rows 2h and 2h + 1 in the two halves of every vector: the digit work is shared by both.
      const auto pair_dot = [&](int h) {
        const uint8_t* p0 = row_ptr[2 * h] + b * 54;
        const uint8_t* p1 = row_ptr[2 * h + 1] + b * 54;
        _mm_prefetch(reinterpret_cast<const char*>(p0 + kPrefetchRows * lay.row_bytes),
                     _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(p1 + kPrefetchRows * lay.row_bytes),
                     _MM_HINT_T1);
        __m512i x = halves(load256(p0), load256(p1));
        __m512i t = halves(bcast128(p0 + 32), bcast128(p1 + 32));
        __m512i s = _mm512_setzero_si512();
        for (int n = 0; n < 5; ++n, x = times3(x), t = times3(t)) {
          s = _mm512_dpbusd_epi32(s, tq1_digits(x), act[n]);
          s = _mm512_dpbusd_epi32(s, tq1_digits(t), act[5 + n]);
        }
        const auto qh = [](const uint8_t* p) {
          return _mm256_set1_epi32(static_cast<int>(load_u32(reinterpret_cast<const int8_t*>(p))));
        };
        __m512i hv = halves(qh(p0 + 48), qh(p1 + 48));
        hv = _mm512_mask_blend_epi32(0xE0E0, hv, times3(hv));
        hv = _mm512_mask_blend_epi32(0xC0C0, hv, times3(hv));
        hv = _mm512_mask_blend_epi32(0x8080, hv, times3(hv));
        return _mm512_dpbusd_epi32(s, tq1_digits(hv), act[10]);
      };
      __m512i lanes[8];
#pragma GCC unroll 8
      for (int h = 0; h < 8; ++h) lanes[h] = pair_dot(h);
      const __m512 d = _mm512_mul_ps(_mm512_set1_ps(a.scale[b]), row_scales(row_ptr, b * 54 + 52));
      const __m256i sub_b =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sub.data() + b * 8));
      if (a.order == SumOrder::blocks) {
        accumulate_row_pair_blocks(lanes, sub_b, d, acc);
      } else {
        accumulate_row_pairs(lanes, sub_b, d, acc);
      }
    }
    store_row_pairs(y + r0, acc, rows);
  }
}

void gemv(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
          int64_t row_end) {
  if (w.type == TensorType::I2_S) {
    gemv_2bit<true>(w, a, y, row_begin, row_end);
  } else if (w.type == TensorType::TQ1_0 && !w.packed_codes) {
    gemv_tq1_0(w, a, y, row_begin, row_end);
  } else if (a.order == SumOrder::blocks) {
    gemv_tq2_0_blocks(w, a, y, row_begin, row_end);
  } else {
    gemv_tq2_0(w, a, y, row_begin, row_end);
  }
}

// ---- Small batches: 2-16 tokens, the continuous-batching server's decode step ----
// The GEMM's gathered tile decode pays off over many tokens; at 8 it costs as much as ~10 GEMVs.
// Here rows are taken two at a time, each 64-byte chunk decoded once as in the GEMV (one load,
// 4 shift-and) and dotted with up to kSmallGroup tokens' permuted activations, so a decode step
// reads and decodes its weights once. Per (row, token) the integer sums and the float steps are
// the GEMVs', so the outputs are theirs (and the oracle's) bit for bit.
constexpr int64_t kSmallBatch = 16;
// Tokens per pass over a row pair: I2_S keeps 2 x 8 integer accumulators, which leaves room for
// the codes in the 32 zmm registers; a 9-16 token batch takes two passes (the pair is in L1).
constexpr int kSmallGroup = 8;
// Rows ahead that the row-pair loop prefetches into L1: without it an 8-token step over weights
// from DRAM takes ~30% longer (kernels_bench gemm8, 2560 x 2560: 504 us against 387 us; 16 rows
// ahead gains nothing more).
constexpr int kSmallPrefetchRows = 8;

struct RowPair {
  const uint8_t* rows[2];  // the second row repeats the first when only one is left
  int64_t r;               // index of rows[0]
  int count;               // 1 or 2 rows to store
};

// Every token's activations permuted as permute_for_2bit, laid out chunk-major ([chunk][token]
// [256]) so that one pointer and immediate offsets reach all tokens of a chunk. I2_S's last
// 128 values (k = 128 * odd) fill the first 32 bytes of each 64-byte vector, zeros the rest, to
// match codes loaded as 32 bytes and zero-extended.
void permute_tokens_for_2bit(const QuantizedActs& a, int64_t k, std::vector<int8_t>& perm) {
  const int64_t full_chunks = k / kChunk;
  const int64_t chunks = (k + kChunk - 1) / kChunk;
  perm.assign(static_cast<size_t>(chunks * a.n_tokens * kChunk), 0);
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const int8_t* q = a.row(t);
    for (int64_t c = 0; c < chunks; ++c) {
      int8_t* dst = perm.data() + (c * a.n_tokens + t) * kChunk;
      for (int l = 0; l < 4; ++l) {
        std::memcpy(dst + 64 * l, q + c * kChunk + 32 * l, 32);
        if (c < full_chunks) std::memcpy(dst + 64 * l + 32, q + c * kChunk + 128 + 32 * l, 32);
      }
    }
  }
}

// Activations are loaded once into a register and used by both rows: left to itself GCC folds the
// load into each vpdpbusd, doubling the loads, which then bound the loop.
[[gnu::always_inline]] inline __m512i load_act(const int8_t* p) {
  __m512i v = _mm512_loadu_si512(p);
  asm("" : "+v"(v));
  return v;
}

// acc[i][t] += (codes of row i at shift l) . (activations of token t), over one 256-chunk; x[i]:
// the row's 64 code bytes, pa: the chunk's permuted activations of the group's first token.
template <bool kI2S, int NT, int l>
[[gnu::always_inline]] inline void dot_shift(const __m512i* x, const int8_t* pa,
                                             __m512i (*acc)[NT]) {
  const __m512i c0 = codes_at<kI2S, l>(x[0]), c1 = codes_at<kI2S, l>(x[1]);
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    const __m512i act = load_act(pa + t * kChunk + 64 * l);
    acc[0][t] = _mm512_dpbusd_epi32(acc[0][t], c0, act);
    acc[1][t] = _mm512_dpbusd_epi32(acc[1][t], c1, act);
  }
}

template <bool kI2S, int NT>
[[gnu::always_inline]] inline void dot_chunk_tokens(const __m512i* x, const int8_t* pa,
                                                    __m512i (*acc)[NT]) {
  dot_shift<kI2S, NT, 0>(x, pa, acc);
  dot_shift<kI2S, NT, 1>(x, pa, acc);
  dot_shift<kI2S, NT, 2>(x, pa, acc);
  dot_shift<kI2S, NT, 3>(x, pa, acc);
}

// The two rows' 64-byte chunk at `offset`, prefetching the chunk kSmallPrefetchRows rows ahead.
[[gnu::always_inline]] inline void load_pair_chunk(const RowPair& pair, int64_t offset,
                                                   int64_t row_bytes, __m512i* x) {
  _mm_prefetch(
      reinterpret_cast<const char*>(pair.rows[0] + offset + kSmallPrefetchRows * row_bytes),
      _MM_HINT_T0);
  _mm_prefetch(
      reinterpret_cast<const char*>(pair.rows[1] + offset + kSmallPrefetchRows * row_bytes),
      _MM_HINT_T0);
  x[0] = _mm512_loadu_si512(pair.rows[0] + offset);
  x[1] = _mm512_loadu_si512(pair.rows[1] + offset);
}

// I2_S: one integer sum per (row, token) over the row, rescaled once as the oracle.
template <int NT>
void i2s_pair(const TernaryWeights& w, const QuantizedActs& a, const int8_t* perm, int64_t t0,
              const RowPair& pair, float* y) {
  const int64_t full_chunks = w.k / kChunk;
  const int64_t chunk_stride = a.n_tokens * kChunk;
  const int64_t row_bytes = w.k / 4;
  __m512i acc[2][NT];
  for (auto& row : acc) {
    for (auto& v : row) v = _mm512_setzero_si512();
  }
  const int8_t* pa = perm + t0 * kChunk;
  for (int64_t c = 0; c < full_chunks; ++c, pa += chunk_stride) {
    __m512i x[2];
    load_pair_chunk(pair, c * 64, row_bytes, x);
    dot_chunk_tokens<true, NT>(x, pa, acc);
  }
  if (w.k % kChunk != 0) {  // the last 128 values of the row (as the GEMV)
    const __m512i x[2] = {_mm512_zextsi256_si512(_mm256_loadu_si256(
                              reinterpret_cast<const __m256i*>(pair.rows[0] + full_chunks * 64))),
                          _mm512_zextsi256_si512(_mm256_loadu_si256(
                              reinterpret_cast<const __m256i*>(pair.rows[1] + full_chunks * 64)))};
    dot_chunk_tokens<true, NT>(x, pa, acc);
  }
  // All 2 x NT sums at once: the transposing add tree leaves sum i in lane i.
  __m512i v[kTile];
  for (int i = 0; i < kTile; ++i) v[i] = _mm512_setzero_si512();
  for (int t = 0; t < NT; ++t) {
    v[2 * t] = acc[0][t];
    v[2 * t + 1] = acc[1][t];
  }
  __m512i part[4];
  for (int g = 0; g < 4; ++g) part[g] = reduce4(v[4 * g], v[4 * g + 1], v[4 * g + 2], v[4 * g + 3]);
  alignas(64) int32_t sums[kTile];
  _mm512_store_si512(sums, finish_reduce16(part));
  for (int t = 0; t < NT; ++t) {
    const int64_t tok = t0 + t;
    for (int i = 0; i < pair.count; ++i) {  // ((float)sum(c*q) - (float)sum(q)) / s * tensor_scale
      y[tok * w.n + pair.r + i] =
          (static_cast<float>(sums[2 * t + i]) - static_cast<float>(a.qsum[tok])) / a.scale[tok] *
          w.tensor_scale;
    }
  }
}

// The weight scale of block b of row r (packed float tiles, or the block's fp16).
inline float tq_row_scale(const Layout& lay, int64_t nb, int64_t r, const uint8_t* row, int64_t b) {
  if (lay.scales) return lay.scales[((r / kTile) * nb + b) * kTile + r % kTile];
  uint16_t half;
  std::memcpy(&half, row + b * lay.chunk_bytes + lay.scale_offset, 2);
  return _cvtsh_ss(half);
}

// TQ2_0 (or TQ1_0 repacked to its codes): per block, the two rows' ggml lanes are folded into one
// vector (row 0 low, row 1 high) and rescaled with one FMA per lane, as accumulate_row_pairs; in
// the blocks order each half's exact total goes into its lane 0, as accumulate_row_pair_blocks.
template <int NT, bool kBlocks>
void tq_pair(const TernaryWeights& w, const Layout& lay, const QuantizedActs& a, const int8_t* perm,
             const int32_t* sub, int64_t t0, const RowPair& pair, float* y) {
  const int64_t nb = w.k / kChunk;
  const int64_t chunk_stride = a.n_tokens * kChunk;
  const int64_t r1 = pair.r + pair.count - 1;
  __m512 acc[NT];
  for (auto& v : acc) v = _mm512_setzero_ps();
  const int8_t* pa = perm + t0 * kChunk;
  for (int64_t b = 0; b < nb; ++b, pa += chunk_stride) {
    __m512i x[2];
    load_pair_chunk(pair, b * lay.chunk_bytes, lay.row_bytes, x);
    __m512i s[2][NT];
    for (auto& row : s) {
      for (auto& v : row) v = _mm512_setzero_si512();
    }
    dot_chunk_tokens<false, NT>(x, pa, s);
    const __m512 d_rows =
        _mm512_insertf32x8(_mm512_set1_ps(tq_row_scale(lay, nb, pair.r, pair.rows[0], b)),
                           _mm256_set1_ps(tq_row_scale(lay, nb, r1, pair.rows[1], b)), 1);
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      const int64_t tok = t0 + t;
      const __m512i sub2 = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sub + (tok * nb + b) * 8)));
      __m512i lanes =
          _mm512_sub_epi32(_mm512_add_epi32(_mm512_shuffle_i32x4(s[0][t], s[1][t], 0x44),
                                            _mm512_shuffle_i32x4(s[0][t], s[1][t], 0xEE)),
                           sub2);
      const __m512 d = _mm512_mul_ps(_mm512_set1_ps(a.scale[tok * nb + b]), d_rows);
      if constexpr (kBlocks) {
        lanes = _mm512_add_epi32(lanes, _mm512_shuffle_epi32(lanes, _MM_PERM_BADC));
        lanes = _mm512_add_epi32(lanes, _mm512_shuffle_epi32(lanes, _MM_PERM_CDAB));
        lanes = _mm512_add_epi32(lanes, _mm512_shuffle_i32x4(lanes, lanes, 0xB1));
        acc[t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0x0101, lanes), d, acc[t]);
      } else {
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lanes), d, acc[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    alignas(64) float lanes[kTile];
    _mm512_store_ps(lanes, acc[t]);
    for (int i = 0; i < pair.count; ++i) y[(t0 + t) * w.n + pair.r + i] = hsum8_ggml(lanes + 8 * i);
  }
}

template <int NT>
void small_batch_group(const TernaryWeights& w, const Layout& lay, const QuantizedActs& a,
                       const int8_t* perm, const int32_t* sub, int64_t t0, const RowPair& pair,
                       float* y) {
  if (lay.i2s) {
    i2s_pair<NT>(w, a, perm, t0, pair, y);
  } else if (a.order == SumOrder::blocks) {
    tq_pair<NT, true>(w, lay, a, perm, sub, t0, pair, y);
  } else {
    tq_pair<NT, false>(w, lay, a, perm, sub, t0, pair, y);
  }
}

using SmallGroupFn = void (*)(const TernaryWeights&, const Layout&, const QuantizedActs&,
                              const int8_t*, const int32_t*, int64_t, const RowPair&, float*);
constexpr SmallGroupFn kGroupKernels[kSmallGroup + 1] = {nullptr,
                                                         &small_batch_group<1>,
                                                         &small_batch_group<2>,
                                                         &small_batch_group<3>,
                                                         &small_batch_group<4>,
                                                         &small_batch_group<5>,
                                                         &small_batch_group<6>,
                                                         &small_batch_group<7>,
                                                         &small_batch_group<8>};

// 2..kSmallBatch tokens x a 2-bit layout (I2_S, TQ2_0, TQ1_0 repacked): rows in pairs, tokens in
// even groups of at most kSmallGroup.
void small_batch(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                 int64_t row_end) {
  const Layout lay = layout_of(w);
  std::vector<int8_t>& perm = thread_buffer_i8();
  permute_tokens_for_2bit(a, w.k, perm);
  std::vector<int32_t>& sub = thread_buffer_i32();
  if (!lay.i2s) {
    sub.resize(static_cast<size_t>(a.n_tokens * (w.k / 32)));
    q8k_sub_block_sums(a, sub.data());
  }
  const int64_t groups = (a.n_tokens + kSmallGroup - 1) / kSmallGroup;
  for (int64_t r = row_begin; r < row_end; r += 2) {
    RowPair pair{};
    pair.r = r;
    pair.count = r + 1 < row_end ? 2 : 1;
    pair.rows[0] = lay.base + r * lay.row_bytes;
    pair.rows[1] = lay.base + (r + pair.count - 1) * lay.row_bytes;
    for (int64_t g = 0, t0 = 0; g < groups; ++g) {
      const int64_t size = a.n_tokens / groups + (g < a.n_tokens % groups ? 1 : 0);
      kGroupKernels[size](w, lay, a, perm.data(), sub.data(), t0, pair, y);
      t0 += size;
    }
  }
}

// 2-bit tile decode (I2_S, TQ2_0): gather 4 bytes of every row, then spread each byte's 4 codes
// over a dword (b | b << 6 | b << 12 | b << 18, masked to bits 0-1 of each byte).
void decode_tile_2bit(const uint8_t* tile_base, __m512i row_offsets, __mmask16 valid,
                      int64_t blocks128, int64_t chunk_bytes, __m512i* tile_codes) {
  const __m512i low_byte = _mm512_set1_epi32(0xFF);
  const __m512i mask3 = _mm512_set1_epi32(0x03030303);
  for (int64_t blk = 0; blk < blocks128; ++blk) {
    const uint8_t* base = tile_base + (blk / 2) * chunk_bytes + (blk % 2) * 32;
    for (int j = 0; j < 8; ++j) {
      const __m512i g =
          _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, row_offsets, base + 4 * j, 1);
      for (int i = 0; i < 4; ++i) {
        const __m512i b = _mm512_and_si512(_mm512_srli_epi32(g, 8 * i), low_byte);
        const __m512i spread = _mm512_ternarylogic_epi32(b, _mm512_slli_epi32(b, 6),
                                                         _mm512_slli_epi32(b, 12), 0xFE);  // a|b|c
        tile_codes[blk * 32 + 4 * j + i] =
            _mm512_and_si512(_mm512_or_si512(spread, _mm512_slli_epi32(b, 18)), mask3);
      }
    }
  }
}

// TQ1_0 tile decode: byte m of a group of bytes holds trit n of value (group start + n*stride + m),
// so the digits of 4 gathered bytes are 4 consecutive values: element order, no permutation.
void decode_tile_tq1_0(const uint8_t* tile_base, __m512i row_offsets, __mmask16 valid,
                       int64_t blocks, int64_t row_bytes, __m512i* tile_codes) {
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* base = tile_base + b * 54;
    for (int r = 0; r < kTile; ++r) {  // the next tile's block, for one-token calls
      _mm_prefetch(reinterpret_cast<const char*>(base + (kTile + r) * row_bytes), _MM_HINT_T1);
    }
    __m512i* out = tile_codes + b * 64;
    const auto gather = [&](int offset) {
      return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, row_offsets, base + offset,
                                         1);
    };
    for (int j = 0; j < 8; ++j) {  // qs[0..32): 5 trits, values n*32 + m
      __m512i q = gather(4 * j);
      for (int n = 0; n < 5; ++n, q = times3(q)) out[(n * 32 + 4 * j) / 4] = tq1_digits(q);
    }
    for (int j = 0; j < 4; ++j) {  // qs[32..48): 5 trits, values 160 + n*16 + m
      __m512i q = gather(32 + 4 * j);
      for (int n = 0; n < 5; ++n, q = times3(q)) out[(160 + n * 16 + 4 * j) / 4] = tq1_digits(q);
    }
    __m512i q = gather(48);  // qh[0..4): 4 trits, values 240 + n*4 + m
    for (int n = 0; n < 4; ++n, q = times3(q)) out[(240 + n * 4) / 4] = tq1_digits(q);
  }
}

// dst[4m + l] = src[g(l)*32 + m] for m < 32, l < 4, g(l) = l (or 3 - l when reversed): a 4 x 32
// byte transpose by unpacks.
inline void interleave_groups(const int8_t* src, bool reversed, int8_t* dst) {
  __m256i g[4];
  for (int l = 0; l < 4; ++l) {
    g[l] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32 * (reversed ? 3 - l : l)));
  }
  const __m256i t0 = _mm256_unpacklo_epi8(g[0], g[1]), t1 = _mm256_unpackhi_epi8(g[0], g[1]);
  const __m256i t2 = _mm256_unpacklo_epi8(g[2], g[3]), t3 = _mm256_unpackhi_epi8(g[2], g[3]);
  // Per 128-bit lane: u0 holds m 0-3 (lane 1: 16-19), u1 4-7, u2 8-11, u3 12-15.
  const __m256i u0 = _mm256_unpacklo_epi16(t0, t2), u1 = _mm256_unpackhi_epi16(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi16(t1, t3), u3 = _mm256_unpackhi_epi16(t1, t3);
  auto* out = reinterpret_cast<__m256i*>(dst);
  _mm256_storeu_si256(out, _mm256_permute2x128_si256(u0, u1, 0x20));
  _mm256_storeu_si256(out + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
  _mm256_storeu_si256(out + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
  _mm256_storeu_si256(out + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
}

// The GEMM's register tile: kPair row tiles (32 rows) share every activation broadcast, which
// halves the broadcasts per vpdpbusd (the loop is issue-bound, not bound by vpdpbusd alone).
constexpr int kPair = 2;
constexpr int kI2sTokens = 8;  // I2_S: 2 x 8 int32 accumulators
constexpr int kTqTokens = 4;   // TQ: 2 x 4 int32 + 2 x 4 float accumulators

// One output tile of the GEMM: its decoded codes, its float block scales (TQ), the rows it has.
struct TileRef {
  const __m512i* codes;
  const float* scales;  // [nb][16]; TQ only
  int rows;             // 0: no tile (the pair's second tile past the range)
};

// I2_S: one integer sum per (row, token) over the whole row, rescaled once as the oracle.
void gemm_i2s_tokens(const TernaryWeights& w, const QuantizedActs& a, const TileRef* tiles,
                     const int8_t* const* act, int64_t groups, int64_t t0, int64_t tokens,
                     float* y) {
  __m512i acc[kPair][kI2sTokens];
  for (auto& tile : acc) {
    for (auto& v : tile) v = _mm512_setzero_si512();
  }
  const __m512i* c0 = tiles[0].codes;
  const __m512i* c1 = tiles[1].codes;
  for (int64_t g = 0; g < groups; ++g) {
    const __m512i w0 = c0[g], w1 = c1[g];
#pragma GCC unroll 8
    for (int t = 0; t < kI2sTokens; ++t) {
      const __m512i x = _mm512_set1_epi32(static_cast<int>(load_u32(act[t] + 4 * g)));
      acc[0][t] = _mm512_dpbusd_epi32(acc[0][t], w0, x);
      acc[1][t] = _mm512_dpbusd_epi32(acc[1][t], w1, x);
    }
  }
  for (int i = 0; i < kPair; ++i) {
    if (tiles[i].rows == 0) continue;
    for (int t = 0; t < tokens; ++t) {
      const int64_t tok = t0 + t;
      __m512 out = _mm512_sub_ps(_mm512_cvtepi32_ps(acc[i][t]),
                                 _mm512_set1_ps(static_cast<float>(a.qsum[tok])));
      out = _mm512_mul_ps(_mm512_div_ps(out, _mm512_set1_ps(a.scale[tok])),
                          _mm512_set1_ps(w.tensor_scale));
      store_rows(y + tok * w.n + i * kTile, out, tiles[i].rows);
    }
  }
}

// TQ: ggml keeps 8 float lanes per output (see tq_row_dot_ggml), so the sums are taken lane by
// lane: lane p of block b is the 8 code dwords (groups of 4 weights) whose elements e have
// (e % 32) / 4 == p. TQ2_0 dwords (activations interleaved per 128-block) hold elements l*32 + m,
// lane m / 4: groups 4p..4p+3 and 32+4p..32+4p+3; TQ1_0 dwords are in element order, lane g % 8:
// groups 8j + p. Each lane's FMA chain over the blocks is independent, so lanes are the outer loop
// and the chains of the tokens and both tiles stay in registers.
template <bool kTq1>
void gemm_tq_tokens(const TernaryWeights& w, const QuantizedActs& a, const TileRef* tiles,
                    const int32_t* sub, const int8_t* const* act, int64_t t0, int64_t tokens,
                    float* y) {
  const int64_t nb = w.k / kChunk;
  const int64_t subs = w.k / 32;
  alignas(64) float lanes[kPair][kTqTokens][8][kTile];
  // d = d_act * d_w per (block, tile, token, row), computed once for the 8 lanes.
  thread_local std::vector<float> d_storage;
  d_storage.resize(static_cast<size_t>(nb * kPair * kTqTokens * kTile + kTile));
  auto* d = reinterpret_cast<__m512*>((reinterpret_cast<uintptr_t>(d_storage.data()) + 63) &
                                      ~uintptr_t{63});
  for (int64_t b = 0; b < nb; ++b) {
    for (int i = 0; i < kPair; ++i) {
      const __m512 dw = _mm512_loadu_ps(tiles[i].scales + b * kTile);
      for (int t = 0; t < kTqTokens; ++t) {
        const int64_t tok = t0 + std::min<int64_t>(t, tokens - 1);
        d[(b * kPair + i) * kTqTokens + t] =
            _mm512_mul_ps(_mm512_set1_ps(a.scale[tok * nb + b]), dw);
      }
    }
  }
  const int32_t* sub_tok[kTqTokens];
  for (int t = 0; t < kTqTokens; ++t)
    sub_tok[t] = sub + (t0 + std::min<int64_t>(t, tokens - 1)) * subs;
  const __m512i* c0 = tiles[0].codes;
  const __m512i* c1 = tiles[1].codes;
  for (int p = 0; p < 8; ++p) {
    int64_t group_of[8];
    for (int j = 0; j < 8; ++j) group_of[j] = kTq1 ? 8 * j + p : (j / 4) * 32 + 4 * p + j % 4;
    __m512 acc_f[kPair][kTqTokens];
    for (auto& tile : acc_f) {
      for (auto& v : tile) v = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      __m512i acc[kPair][kTqTokens];  // start at -sum(q) of the lane's 32 elements
#pragma GCC unroll 4
      for (int t = 0; t < kTqTokens; ++t) {
        acc[0][t] = acc[1][t] = _mm512_set1_epi32(-sub_tok[t][b * 8 + p]);
      }
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const int64_t g = b * 64 + group_of[j];
        const __m512i w0 = c0[g], w1 = c1[g];
#pragma GCC unroll 4
        for (int t = 0; t < kTqTokens; ++t) {
          const __m512i x = _mm512_set1_epi32(static_cast<int>(load_u32(act[t] + 4 * g)));
          acc[0][t] = _mm512_dpbusd_epi32(acc[0][t], w0, x);
          acc[1][t] = _mm512_dpbusd_epi32(acc[1][t], w1, x);
        }
      }
#pragma GCC unroll 2
      for (int i = 0; i < kPair; ++i) {
#pragma GCC unroll 4
        for (int t = 0; t < kTqTokens; ++t) {
          acc_f[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i][t]),
                                        d[(b * kPair + i) * kTqTokens + t], acc_f[i][t]);
        }
      }
    }
    for (int i = 0; i < kPair; ++i) {
      for (int t = 0; t < kTqTokens; ++t) _mm512_store_ps(lanes[i][t][p], acc_f[i][t]);
    }
  }
  for (int i = 0; i < kPair; ++i) {
    if (tiles[i].rows == 0) continue;
    for (int t = 0; t < tokens; ++t) {
      const auto l = [&](int p) { return _mm512_load_ps(lanes[i][t][p]); };
      // hsum_float_8 in ggml's order, 16 rows at once
      const __m512 r0 = _mm512_add_ps(l(4), l(0)), r1 = _mm512_add_ps(l(5), l(1));
      const __m512 r2 = _mm512_add_ps(l(6), l(2)), r3 = _mm512_add_ps(l(7), l(3));
      store_rows(y + (t0 + t) * w.n + i * kTile,
                 _mm512_add_ps(_mm512_add_ps(r0, r2), _mm512_add_ps(r1, r3)), tiles[i].rows);
    }
  }
}

// TQ in the blocks order: per block, the exact integer sum over all 64 code dwords (starting at
// -sum(q) of the block), then one FMA per (row, token, block). Like I2_S's loop plus a rescale.
void gemm_tq_blocks_tokens(const TernaryWeights& w, const QuantizedActs& a, const TileRef* tiles,
                           const int8_t* const* act, int64_t t0, int64_t tokens, float* y) {
  const int64_t nb = w.k / kChunk;
  int64_t tok[kTqTokens];
  for (int t = 0; t < kTqTokens; ++t) tok[t] = t0 + std::min<int64_t>(t, tokens - 1);
  __m512 acc_f[kPair][kTqTokens];
  for (auto& tile : acc_f) {
    for (auto& v : tile) v = _mm512_setzero_ps();
  }
  const __m512i* c0 = tiles[0].codes;
  const __m512i* c1 = tiles[1].codes;
  for (int64_t b = 0; b < nb; ++b) {
    __m512i acc[kPair][kTqTokens];
#pragma GCC unroll 4
    for (int t = 0; t < kTqTokens; ++t) {
      acc[0][t] = acc[1][t] = _mm512_set1_epi32(-a.bsum[tok[t] * nb + b]);
    }
    for (int64_t g = b * 64; g < (b + 1) * 64; ++g) {
      const __m512i w0 = c0[g], w1 = c1[g];
#pragma GCC unroll 4
      for (int t = 0; t < kTqTokens; ++t) {
        const __m512i x = _mm512_set1_epi32(static_cast<int>(load_u32(act[t] + 4 * g)));
        acc[0][t] = _mm512_dpbusd_epi32(acc[0][t], w0, x);
        acc[1][t] = _mm512_dpbusd_epi32(acc[1][t], w1, x);
      }
    }
#pragma GCC unroll 2
    for (int i = 0; i < kPair; ++i) {
      const __m512 dw = _mm512_loadu_ps(tiles[i].scales + b * kTile);
#pragma GCC unroll 4
      for (int t = 0; t < kTqTokens; ++t) {
        const __m512 d = _mm512_mul_ps(_mm512_set1_ps(a.scale[tok[t] * nb + b]), dw);
        acc_f[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i][t]), d, acc_f[i][t]);
      }
    }
  }
  for (int i = 0; i < kPair; ++i) {
    if (tiles[i].rows == 0) continue;
    for (int t = 0; t < tokens; ++t) {
      store_rows(y + (t0 + t) * w.n + i * kTile, acc_f[i][t], tiles[i].rows);
    }
  }
}

// Decodes the 16-row tile at r0 (rows clamped to row_end) into codes, and its block scales.
void decode_tile(const TernaryWeights& w, const Layout& lay, int64_t r0, int64_t row_end,
                 __m512i* codes, float* scales) {
  const int64_t nb = lay.i2s ? 1 : w.k / kChunk;
  const int rows = static_cast<int>(std::min<int64_t>(kTile, row_end - r0));
  const __mmask16 valid = static_cast<__mmask16>((1u << rows) - 1);
  const __m512i row_offsets =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int>(lay.row_bytes)));
  const uint8_t* tile_base = lay.base + r0 * lay.row_bytes;
  if (lay.tq1) {
    decode_tile_tq1_0(tile_base, row_offsets, valid, w.k / kChunk, lay.row_bytes, codes);
  } else {
    decode_tile_2bit(tile_base, row_offsets, valid, w.k / 128, lay.chunk_bytes, codes);
  }
  if (lay.i2s) return;
  const uint8_t* row_ptr[kTile];
  for (int i = 0; i < kTile; ++i) {
    row_ptr[i] = lay.base + std::min<int64_t>(r0 + i, row_end - 1) * lay.row_bytes;
  }
  for (int64_t b = 0; b < nb; ++b)
    _mm512_storeu_ps(scales + b * kTile, block_scales(lay, nb, r0, row_end - 1, b, row_ptr));
}

void gemm(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
          int64_t row_end) {
  const Layout lay = layout_of(w);
  const int64_t groups = w.k / 4;  // (row, 4 weights) dwords per row
  const int64_t nb = lay.i2s ? 1 : w.k / kChunk;

  // Activations permuted per 128-block so that bytes 4m..4m+3 are the 4 values whose codes share
  // byte m of the block: value (l*32 + m) at position l (TQ2_0) or 3 - l (I2_S, reversed shifts).
  // TQ1_0 tiles are decoded in element order and use the activations as they are.
  std::vector<int8_t>& perm = thread_buffer_i8();
  perm.resize(lay.tq1 ? 0 : static_cast<size_t>(a.n_tokens * w.k));
  for (int64_t t = 0; t < (lay.tq1 ? 0 : a.n_tokens); ++t) {
    const int8_t* src = a.row(t);
    int8_t* dst = perm.data() + t * w.k;
    for (int64_t b = 0; b < w.k; b += 128) interleave_groups(src + b, lay.i2s, dst + b);
  }
  // Two decoded tiles (zero-initialized once, so an absent second tile computes on zeros).
  thread_local std::vector<uint8_t> tile_storage;
  const size_t tile_bytes = static_cast<size_t>(groups * 64);
  tile_storage.resize(kPair * tile_bytes + 64);
  auto* tile_codes = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(tile_storage.data()) + 63) & ~uintptr_t{63});
  std::vector<int32_t>& sub = thread_buffer_i32();
  sub.resize(lay.i2s ? 0 : static_cast<size_t>(a.n_tokens * (w.k / 32)));
  if (!lay.i2s && a.order == SumOrder::reference) q8k_sub_block_sums(a, sub.data());
  thread_local std::vector<float> tile_scales;
  tile_scales.resize(static_cast<size_t>(kPair * nb * kTile));

  const int64_t token_step = lay.i2s ? kI2sTokens : kTqTokens;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kPair * kTile) {
    TileRef tiles[kPair];
    for (int i = 0; i < kPair; ++i) {
      const int64_t ri = r0 + i * kTile;
      auto* codes = reinterpret_cast<__m512i*>(tile_codes + i * tile_bytes);
      float* scales = tile_scales.data() + i * nb * kTile;
      const int rows = static_cast<int>(std::clamp<int64_t>(row_end - ri, 0, kTile));
      if (rows > 0) decode_tile(w, lay, ri, row_end, codes, scales);
      tiles[i] = {codes, scales, rows};
    }
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += token_step) {
      const int64_t tokens = std::min<int64_t>(token_step, a.n_tokens - t0);
      const int8_t* act[kI2sTokens];
      const int8_t* act_base = lay.tq1 ? a.q.data() : perm.data();
      for (int t = 0; t < token_step; ++t) {
        act[t] = act_base + (t0 + std::min<int64_t>(t, tokens - 1)) * w.k;
      }
      if (lay.i2s) {
        gemm_i2s_tokens(w, a, tiles, act, groups, t0, tokens, y + r0);
      } else if (a.order == SumOrder::blocks) {
        gemm_tq_blocks_tokens(w, a, tiles, act, t0, tokens, y + r0);
      } else if (lay.tq1) {
        gemm_tq_tokens<true>(w, a, tiles, sub.data(), act, t0, tokens, y + r0);
      } else {
        gemm_tq_tokens<false>(w, a, tiles, sub.data(), act, t0, tokens, y + r0);
      }
    }
  }
}

}  // namespace

void tq1_block_to_codes_avx512(const uint8_t* block, uint8_t* codes) {
  const auto digits256 = [](__m256i q) {  // as tq1_digits, 32 bytes
    const __m256i ones = _mm256_set1_epi8(1);
    const __mmask32 ge86 = _mm256_cmpge_epu8_mask(q, _mm256_set1_epi8(86));
    const __mmask32 ge171 = _mm256_cmpge_epu8_mask(q, _mm256_set1_epi8(static_cast<char>(171)));
    const __m256i c = _mm256_maskz_mov_epi8(ge86, ones);
    return _mm256_mask_add_epi8(c, ge171, c, ones);
  };
  const auto times3_256 = [](__m256i q) { return _mm256_add_epi8(q, _mm256_add_epi8(q, q)); };
  __m256i g[8];  // g[j]: the codes of elements 32j .. 32j + 31
  __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
  for (int n = 0; n < 5; ++n, q = times3_256(q)) g[n] = digits256(q);  // elements 32n + m
  // qs[32..48) in both halves, the upper multiplied by 3 once more: digit pairs (n, n+1) of the
  // 16 bytes are elements 160 + 16n .. + 32.
  const __m128i q2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 32));
  __m256i pair =
      _mm256_inserti128_si256(_mm256_castsi128_si256(q2),
                              _mm256_castsi256_si128(times3_256(_mm256_castsi128_si256(q2))), 1);
  g[5] = digits256(pair);  // digits 0, 1
  pair = times3_256(times3_256(pair));
  g[6] = digits256(pair);  // digits 2, 3
  pair = times3_256(times3_256(pair));
  // qh[0..4): dword n multiplied by 3^n, digit 0: elements 240 + 4n + m, after digit 4 of qs[32..].
  __m128i h =
      _mm_set1_epi32(static_cast<int>(load_u32(reinterpret_cast<const int8_t*>(block + 48))));
  const auto times3_128 = [](__m128i v) { return _mm_add_epi8(v, _mm_add_epi8(v, v)); };
  h = _mm_blend_epi32(h, times3_128(h), 0xE);
  h = _mm_blend_epi32(h, times3_128(h), 0xC);
  h = _mm_blend_epi32(h, times3_128(h), 0x8);
  g[7] = digits256(_mm256_inserti128_si256(pair, h, 1));  // low half: digit 4 of qs[32..]
  for (int half = 0; half < 2; ++half) {
    const __m256i* v = g + 4 * half;
    const __m256i packed =
        _mm256_or_si256(_mm256_or_si256(v[0], _mm256_slli_epi16(v[1], 2)),
                        _mm256_or_si256(_mm256_slli_epi16(v[2], 4), _mm256_slli_epi16(v[3], 6)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + 32 * half), packed);
  }
}

void ternary_matmul_avx512(const TernaryWeights& w, const QuantizedActs& a, float* y,
                           int64_t row_begin, int64_t row_end) {
  if (!simd_handles(w)) {
    ternary_matmul_ref(w, a, y, row_begin, row_end);
  } else if (a.n_tokens == 1) {
    gemv(w, a, y, row_begin, row_end);
  } else if (a.n_tokens <= kSmallBatch && !(w.type == TensorType::TQ1_0 && !w.packed_codes)) {
    small_batch(w, a, y, row_begin, row_end);
  } else {
    gemm(w, a, y, row_begin, row_end);
  }
}

}  // namespace bitnet::kernels
