// AVX2 versions of the Q8_0 KV products (kernels/kv_q8_0.hpp). Scores: |k| x sign(q, k) through
// maddubs (no saturation: Q8_0 values are within +-127) and madd give the 8 lanes of 4-byte sums.
#include <immintrin.h>

#include "kernels/kv_q8_0.hpp"

namespace bitnet::kernels {
namespace {

inline float f16(uint16_t h) {
  return _cvtsh_ss(h);
}

inline __m256i load_block(const BlockQ8_0& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
}

// ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
inline float reduce8(__m256 a) {
  const __m128 t = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
  return _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps(u, u, 1)));
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
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t j = 0; j < n_pos; ++j) {
    const BlockQ8_0* kj = k + j * k_stride;
    for (int64_t h = 0; h < n_q; ++h) {
      const BlockQ8_0* qh = q + h * n_blocks;
      __m256 acc = _mm256_setzero_ps();
      for (int64_t b = 0; b < n_blocks; ++b) {
        const __m256i kb = load_block(kj[b]);
        const __m256i prod =
            _mm256_maddubs_epi16(_mm256_abs_epi8(kb), _mm256_sign_epi8(load_block(qh[b]), kb));
        const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones));
        const __m256 dd = _mm256_set1_ps(f16(kj[b].d) * f16(qh[b].d));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(dd, s));
      }
      out[h * out_stride + j] = reduce8(acc);
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
