// AVX2 versions of the Q8_0 KV products (kernels/kv_q8_0.hpp). Scores: |k| x sign(q, k) through
// maddubs (no saturation: Q8_0 values are within +-127) and madd give the 8 lanes of 4-byte sums.
#include <immintrin.h>

#include <algorithm>

#include "kernels/kv_q8_0.hpp"

namespace bitnet::kernels {
namespace {

inline float f16(uint16_t h) {
  return _cvtsh_ss(h);
}

inline __m256i load_block(const BlockQ8_0& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
}

// The lane reduction of the scores, ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)), for 8 rows
// at once: v[i] holds the lanes of row 4 * (i % 2) + i / 2, and lane r of the
// result is row r's reduction, made of the same additions (a + b of the same two values at each of
// its three levels).
inline __m256 reduce8_rows(const __m256* v) {
  __m256 t[4];  // t[p]: rows of v[2p] (low 128 bits) and v[2p + 1], each a_i + a_{i+4}
  for (int64_t p = 0; p < 4; ++p) {
    t[p] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * p], v[2 * p + 1], 0x20),
                         _mm256_permute2f128_ps(v[2 * p], v[2 * p + 1], 0x31));
  }
  __m256 u[2];  // per 128-bit lane, 2 rows x {t0 + t2, t1 + t3}
  for (int64_t q = 0; q < 2; ++q) {
    u[q] = _mm256_add_ps(_mm256_shuffle_ps(t[2 * q], t[2 * q + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm256_shuffle_ps(t[2 * q], t[2 * q + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  return _mm256_add_ps(_mm256_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm256_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// The 8 float lanes of one (K row, query head) score, before their reduction.
inline __m256 score_lanes(const BlockQ8_0* kj, const BlockQ8_0* qh, int64_t n_blocks) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const __m256i kb = load_block(kj[b]);
    const __m256i prod =
        _mm256_maddubs_epi16(_mm256_abs_epi8(kb), _mm256_sign_epi8(load_block(qh[b]), kb));
    const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
    const __m256 dd = _mm256_set1_ps(f16(kj[b].d) * f16(qh[b].d));
    acc = _mm256_add_ps(acc, _mm256_mul_ps(dd, s));
  }
  return acc;
}

inline __m256 q8_to_float(const int8_t* q) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))));
}

// kHeads weight rows x one block (32 dims) over all positions, accumulators in registers.
template <int kHeads>
void values_block(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p,
                  int64_t p_stride, float* out, int64_t out_stride) {
  __m256 acc[kHeads][4];
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < 4; ++c) acc[h][c] = _mm256_loadu_ps(out + h * out_stride + 8 * c);
  }
  for (int64_t j = 0; j < n_pos; ++j) {
    const BlockQ8_0& b = v[j * v_stride];
    const float d = f16(b.d);
    __m256 x[4];
    for (int c = 0; c < 4; ++c) x[c] = q8_to_float(b.qs + 8 * c);
    for (int h = 0; h < kHeads; ++h) {
      const __m256 wd = _mm256_set1_ps(p[h * p_stride + j] * d);
      for (int c = 0; c < 4; ++c) acc[h][c] = _mm256_add_ps(acc[h][c], _mm256_mul_ps(wd, x[c]));
    }
  }
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < 4; ++c) _mm256_storeu_ps(out + h * out_stride + 8 * c, acc[h][c]);
  }
}

}  // namespace

void kv_q8_0_scores_avx2(const BlockQ8_0* k, int64_t k_stride, int64_t n_pos, const BlockQ8_0* q,
                         int64_t n_q, int64_t n_blocks, float* out, int64_t out_stride) {
  // 8 positions at a time: one reduction for 8 scores instead of one per score.
  for (int64_t j0 = 0; j0 < n_pos; j0 += 8) {
    const int rows = static_cast<int>(std::min<int64_t>(8, n_pos - j0));
    for (int64_t h = 0; h < n_q; ++h) {
      const BlockQ8_0* qh = q + h * n_blocks;
      __m256 v[8];
      for (int i = 0; i < 8; ++i) {
        const int row = 4 * (i % 2) + i / 2;
        v[i] =
            row < rows ? score_lanes(k + (j0 + row) * k_stride, qh, n_blocks) : _mm256_setzero_ps();
      }
      alignas(32) float sums[8];
      _mm256_store_ps(sums, reduce8_rows(v));
      for (int r = 0; r < rows; ++r) out[h * out_stride + j0 + r] = sums[r];
    }
  }
}

void kv_q8_0_values_avx2(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p,
                         int64_t n_p, int64_t p_stride, float* out, int64_t out_stride,
                         int64_t n_dims) {
  for (int64_t b = 0; b < n_dims / 32; ++b) {
    int64_t h = 0;
    for (; h + 2 <= n_p; h += 2) {
      values_block<2>(v + b, v_stride, n_pos, p + h * p_stride, p_stride,
                      out + h * out_stride + 32 * b, out_stride);
    }
    if (h < n_p) {
      values_block<1>(v + b, v_stride, n_pos, p + h * p_stride, p_stride,
                      out + h * out_stride + 32 * b, out_stride);
    }
  }
}

}  // namespace bitnet::kernels
