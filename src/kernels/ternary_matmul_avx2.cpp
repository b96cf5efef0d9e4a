// AVX2 ternary matmuls. The integer core is vpmaddubsw (u8 codes x s8 activations; |pair sum| <=
// 2*2*128, no saturation) + vpmaddwd. One token on the 2-bit formats (I2_S, TQ2_0) has a fused
// decode-and-dot GEMV over 8 rows; other shapes decode 256-weight chunks into L1 first
// (ternary_matmul_x86.hpp). Outputs are bit-identical to ternary_matmul_ref.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/fp16.hpp"
#include "kernels/ternary_kernels.hpp"
#include "kernels/ternary_matmul_x86.hpp"

namespace bitnet::kernels {
namespace {

inline int32_t hsum_epi32(__m256i v) {
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(x);
}

struct Avx2 {
  using IVec = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kGemvRows = 8;
  static constexpr int kGemmRows = 2;

  static IVec zero() { return _mm256_setzero_si256(); }

  // acc[i*NT + t] += codes row i . acts t over len bytes (a multiple of 32, at most one chunk).
  // The pair sums of vpmaddubsw (|s| <= 2*2*128 = 512) are added in int16 over the chunk's <= 8
  // steps (exact) and widened with one vpmaddwd per chunk instead of one per step: the same
  // integers in every dword.
  template <int MR, int NT>
  static void dot(const uint8_t* codes, int64_t ldc, const int8_t* const* acts, int64_t len,
                  IVec* acc) {
    static_assert(x86::kChunk / 32 * 512 <= 32767, "a chunk's pair sums must fit int16");
    IVec acc16[MR * NT];
#pragma GCC unroll 16
    for (auto& v : acc16) v = _mm256_setzero_si256();
    for (int64_t j = 0; j < len; j += 32) {
      IVec av[NT];
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t)
        av[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acts[t] + j));
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const IVec wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + i * ldc + j));
#pragma GCC unroll 8
        for (int t = 0; t < NT; ++t) {
          acc16[i * NT + t] = _mm256_add_epi16(acc16[i * NT + t], _mm256_maddubs_epi16(wv, av[t]));
        }
      }
    }
    const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 16
    for (int l = 0; l < MR * NT; ++l) {
      acc[l] = _mm256_add_epi32(acc[l], _mm256_madd_epi16(acc16[l], ones));
    }
  }

  // out[i] = sum of the lanes of acc[i], for 8 vectors, by a transposing add tree.
  static void reduce_store(IVec* v, int32_t* out) {
    IVec t[4];
    for (int i = 0; i < 4; ++i) {
      t[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                              _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
    }
    const IVec u0 =
        _mm256_add_epi32(_mm256_unpacklo_epi64(t[0], t[1]), _mm256_unpackhi_epi64(t[0], t[1]));
    const IVec u1 =
        _mm256_add_epi32(_mm256_unpacklo_epi64(t[2], t[3]), _mm256_unpackhi_epi64(t[2], t[3]));
    const IVec total = _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                                        _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), total);
  }

  // TQ: acc[p] += (float)(lanes[p] - sub[p]) * d for ggml's 8 lanes (dword p of a maddubs + madd
  // over 32 consecutive elements is ggml's lane p), one FMA per lane as the oracle.
  static void accumulate_lanes(float* acc, IVec lanes, const int32_t* sub, float d,
                               SumOrder order) {
    if (order == SumOrder::blocks) {  // the block's exact sum into lane 0, the others stay 0
      acc[0] = std::fma(static_cast<float>(hsum_epi32(_mm256_sub_epi32(
                            lanes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sub))))),
                        d, acc[0]);
      return;
    }
    const __m256i s =
        _mm256_sub_epi32(lanes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sub)));
    _mm256_store_ps(acc,
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d), _mm256_load_ps(acc)));
  }
};

constexpr int kRows = 8;           // rows per GEMV tile = int32 lanes of a ymm
constexpr int kPrefetchRows = 64;  // GEMV prefetch distance, in rows

// The first two levels of an 8-vector transposing add tree, for 4 vectors: 128-bit lane L of the
// result holds the sums over lane L of a, b, c, d.
inline __m256i reduce4(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
  return _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
}
// The last level: rows 0-3 half-reduced in u0, rows 4-7 in u1, to one lane per row.
inline __m256i finish_reduce8(__m256i u0, __m256i u1) {
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                          _mm256_permute2x128_si256(u0, u1, 0x31));
}

// sum(c*q) over one 128-value block of 2-bit codes: group l (values l*32..) sits at bit 2l (TQ2_0)
// or 6 - 2l (I2_S) of the 32 bytes; the activations are in element order.
template <bool kI2S>
inline __m256i block128_sum(const uint8_t* codes, const int8_t* q) {
  const __m256i mask3 = _mm256_set1_epi8(3);
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes));
  const auto group = [&](int l) {
    const int shift = kI2S ? 6 - 2 * l : 2 * l;
    const __m256i c = _mm256_and_si256(_mm256_srli_epi16(x, shift), mask3);
    return _mm256_maddubs_epi16(c,
                                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * l)));
  };
  // Four pair sums of at most 512 in magnitude: int16 holds them.
  const __m256i s16 =
      _mm256_add_epi16(_mm256_add_epi16(group(0), group(1)), _mm256_add_epi16(group(2), group(3)));
  return _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
}

inline __m256 row_scales(const uint8_t* const* rows, int64_t offset) {
  alignas(16) uint16_t h[kRows];
  for (int i = 0; i < kRows; ++i) std::memcpy(&h[i], rows[i] + offset, 2);
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}

inline float hsum8_ggml(const float* l) {
  return ((l[4] + l[0]) + (l[6] + l[2])) + ((l[5] + l[1]) + (l[7] + l[3]));
}

// One token x TQ2_0, 8 rows at a time: block128_sum's dword j already is ggml's lane j for its 128
// values, so a row's two halves added give the block's 8 lanes, rescaled per block as the oracle
// (one FMA per lane) and reduced in ggml's hsum order at the end.
void gemv_tq2_0(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                int64_t row_end) {
  const int64_t row_bytes = w.k / 256 * 66;
  const int64_t nb = w.k / 256;
  const int8_t* q = a.row(0);
  const bool blocks = a.order == SumOrder::blocks;
  thread_local std::vector<int32_t> sub;
  sub.resize(static_cast<size_t>(w.k / 32));
  q8k_sub_block_sums(a, sub.data());
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, row_end - r0));
    const uint8_t* row_ptr[kRows];
    for (int i = 0; i < kRows; ++i) {
      row_ptr[i] = w.data + std::min<int64_t>(r0 + i, row_end - 1) * row_bytes;
    }
    __m256 acc[kRows];
    for (auto& v : acc) v = _mm256_setzero_ps();
    float acc0[kRows] = {};  // SumOrder::blocks: lane 0 alone, kept out of the vectors
    for (int64_t b = 0; b < nb; ++b) {
      const int8_t* qb = q + b * 256;
      const __m256i sb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sub.data() + b * 8));
      alignas(32) float d[kRows];
      _mm256_store_ps(d,
                      _mm256_mul_ps(_mm256_set1_ps(a.scale[b]), row_scales(row_ptr, b * 66 + 64)));
#pragma GCC unroll 8
      for (int i = 0; i < kRows; ++i) {
        const uint8_t* p = row_ptr[i] + b * 66;
        _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchRows * row_bytes), _MM_HINT_T1);
        const __m256i lanes =
            _mm256_add_epi32(block128_sum<false>(p, qb), block128_sum<false>(p + 32, qb + 128));
        if (blocks) {  // SumOrder::blocks: one FMA per block on the exact block sum, in lane 0
          acc0[i] =
              std::fma(static_cast<float>(hsum_epi32(_mm256_sub_epi32(lanes, sb))), d[i], acc0[i]);
        } else {
          acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(lanes, sb)),
                                   _mm256_set1_ps(d[i]), acc[i]);
        }
      }
    }
    alignas(32) float lanes[kRows][8];
    for (int i = 0; i < kRows; ++i) {
      _mm256_store_ps(lanes[i], acc[i]);
      if (blocks) lanes[i][0] = acc0[i];  // the other lanes stay 0
    }
    for (int i = 0; i < rows; ++i) y[r0 + i] = hsum8_ggml(lanes[i]);
  }
}

template <bool kI2S>
void gemv_2bit(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const int64_t row_bytes = kI2S ? w.k / 4 : w.k / 256 * 66;
  const int64_t blocks128 = w.k / 128;
  const int8_t* q = a.row(0);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, row_end - r0));
    const uint8_t* row_ptr[kRows];
    for (int i = 0; i < kRows; ++i) {
      row_ptr[i] = w.data + std::min<int64_t>(r0 + i, row_end - 1) * row_bytes;
    }
    __m256 acc_f = _mm256_setzero_ps();
    __m256i part0 = _mm256_setzero_si256(), part1 = _mm256_setzero_si256();
    for (int64_t blk = 0; blk < blocks128; ++blk) {
      // TQ2_0 blocks are 66 bytes: two 32-byte halves, then the fp16 scale.
      const int64_t offset = kI2S ? blk * 32 : (blk / 2) * 66 + (blk % 2) * 32;
      const int8_t* qb = q + blk * 128;
      const auto row_sum = [&](int i) {
        const uint8_t* p = row_ptr[i] + offset;
        _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchRows * row_bytes), _MM_HINT_T1);
        return block128_sum<kI2S>(p, qb);
      };
      part0 = _mm256_add_epi32(part0, reduce4(row_sum(0), row_sum(1), row_sum(2), row_sum(3)));
      part1 = _mm256_add_epi32(part1, reduce4(row_sum(4), row_sum(5), row_sum(6), row_sum(7)));
    }
    if constexpr (kI2S) {  // ((float)sum(c*q) - (float)sum(q)) / s * tensor_scale
      acc_f = _mm256_sub_ps(_mm256_cvtepi32_ps(finish_reduce8(part0, part1)),
                            _mm256_set1_ps(static_cast<float>(a.qsum[0])));
      acc_f = _mm256_mul_ps(_mm256_div_ps(acc_f, _mm256_set1_ps(a.scale[0])),
                            _mm256_set1_ps(w.tensor_scale));
    }
    alignas(32) float out[kRows];
    _mm256_store_ps(out, acc_f);
    std::memcpy(y + r0, out, sizeof(float) * rows);
  }
}

// A few tokens x a 2-bit format (I2_S, TQ2_0), one row at a time: each 32-byte group of codes is
// loaded and decoded once and dotted with NT tokens (up to 4, the accumulators fit the 16 ymm
// registers), so a small batch (the server's decode step) costs far less than NT GEMVs or the
// L1-tile GEMM. Per token the integer sums and the float steps are those of the GEMVs above, so
// the outputs are theirs (and the oracle's) bit for bit.
template <bool kI2S, int NT>
void small_batch_2bit(const TernaryWeights& w, const QuantizedActs& a, const int32_t* sub, float* y,
                      int64_t t0, int64_t row_begin, int64_t row_end) {
  const __m256i mask3 = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t nb = w.k / 256;
  const int64_t row_bytes = kI2S ? w.k / 4 : nb * 66;
  const int64_t blocks128 = w.k / 128;
  const bool blocks_order = a.order == SumOrder::blocks;
  const int8_t* q[NT];
  for (int t = 0; t < NT; ++t) q[t] = a.row(t0 + t);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = w.data + r * row_bytes;
    __m256i isum[NT];  // I2_S: the row's integer sums
    __m256 acc[NT];    // TQ2_0: ggml's 8 float lanes
    float acc0[NT];    // TQ2_0 with SumOrder::blocks: lane 0 alone
    for (int t = 0; t < NT; ++t) {
      isum[t] = _mm256_setzero_si256();
      acc[t] = _mm256_setzero_ps();
      acc0[t] = 0.0f;
    }
    // One 128-value group of codes (32 bytes) against every token: dword j of the result is
    // ggml's lane j, as block128_sum.
    const auto group_sums = [&](const uint8_t* codes, int64_t q_offset, __m256i* out) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes));
      __m256i c[4];
      for (int l = 0; l < 4; ++l)
        c[l] = _mm256_and_si256(_mm256_srli_epi16(x, kI2S ? 6 - 2 * l : 2 * l), mask3);
#pragma GCC unroll 4
      for (int t = 0; t < NT; ++t) {
        const int8_t* qt = q[t] + q_offset;
        const auto g = [&](int l) {
          return _mm256_maddubs_epi16(
              c[l], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qt + 32 * l)));
        };
        out[t] = _mm256_madd_epi16(
            _mm256_add_epi16(_mm256_add_epi16(g(0), g(1)), _mm256_add_epi16(g(2), g(3))), ones);
      }
    };
    if constexpr (kI2S) {
      for (int64_t blk = 0; blk < blocks128; ++blk) {
        __m256i s[NT];
        group_sums(row + blk * 32, blk * 128, s);
        for (int t = 0; t < NT; ++t) isum[t] = _mm256_add_epi32(isum[t], s[t]);
      }
      for (int t = 0; t < NT; ++t) {  // ((float)sum(c*q) - (float)sum(q)) / s * tensor_scale
        const int64_t tok = t0 + t;
        y[tok * w.n + r] =
            (static_cast<float>(hsum_epi32(isum[t])) - static_cast<float>(a.qsum[tok])) /
            a.scale[tok] * w.tensor_scale;
      }
    } else {
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* p = row + b * 66;
        uint16_t half;
        std::memcpy(&half, p + 64, 2);
        const float row_scale = fp16_to_fp32(half);
        __m256i lo[NT], hi[NT];
        group_sums(p, b * 256, lo);
        group_sums(p + 32, b * 256 + 128, hi);
        for (int t = 0; t < NT; ++t) {
          const int64_t tok = t0 + t;
          const float d = a.scale[tok * nb + b] * row_scale;
          const __m256i sb =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sub + (tok * nb + b) * 8));
          const __m256i lanes = _mm256_sub_epi32(_mm256_add_epi32(lo[t], hi[t]), sb);
          if (blocks_order) {  // SumOrder::blocks: one FMA per block on the exact sum (lane 0)
            acc0[t] = std::fma(static_cast<float>(hsum_epi32(lanes)), d, acc0[t]);
          } else {
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_set1_ps(d), acc[t]);
          }
        }
      }
      for (int t = 0; t < NT; ++t) {
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, acc[t]);
        if (blocks_order) lanes[0] = acc0[t];  // the other lanes stay 0, as in the GEMV
        y[(t0 + t) * w.n + r] = hsum8_ggml(lanes);
      }
    }
  }
}

// Up to kSmallBatch tokens go through small_batch_2bit, four at a time.
constexpr int64_t kSmallBatch = 16;

template <bool kI2S>
void small_batch(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                 int64_t row_end) {
  thread_local std::vector<int32_t> sub;
  if constexpr (!kI2S) {
    sub.resize(static_cast<size_t>(a.n_tokens * (w.k / 32)));
    q8k_sub_block_sums(a, sub.data());
  }
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += 4) {
    switch (std::min<int64_t>(4, a.n_tokens - t0)) {
      case 4:
        small_batch_2bit<kI2S, 4>(w, a, sub.data(), y, t0, row_begin, row_end);
        break;
      case 3:
        small_batch_2bit<kI2S, 3>(w, a, sub.data(), y, t0, row_begin, row_end);
        break;
      case 2:
        small_batch_2bit<kI2S, 2>(w, a, sub.data(), y, t0, row_begin, row_end);
        break;
      default:
        small_batch_2bit<kI2S, 1>(w, a, sub.data(), y, t0, row_begin, row_end);
        break;
    }
  }
}

}  // namespace

void ternary_matmul_avx2(const TernaryWeights& w, const QuantizedActs& a, float* y,
                         int64_t row_begin, int64_t row_end) {
  if (a.n_tokens == 1 && simd_handles(w) && w.type == TensorType::I2_S) {
    gemv_2bit<true>(w, a, y, row_begin, row_end);
  } else if (a.n_tokens == 1 && simd_handles(w) && w.type == TensorType::TQ2_0) {
    gemv_tq2_0(w, a, y, row_begin, row_end);
  } else if (a.n_tokens <= kSmallBatch && simd_handles(w) && w.type == TensorType::I2_S) {
    small_batch<true>(w, a, y, row_begin, row_end);
  } else if (a.n_tokens <= kSmallBatch && simd_handles(w) && w.type == TensorType::TQ2_0) {
    small_batch<false>(w, a, y, row_begin, row_end);
  } else {
    x86::ternary_matmul_simd<Avx2>(w, a, y, row_begin, row_end);
  }
}

}  // namespace bitnet::kernels
