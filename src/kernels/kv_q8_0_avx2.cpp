// AVX2 versions of the Q8_0 KV products (kernels/kv_q8_0.hpp): the reference's 16 lanes in two
// 8-lane registers.
#include <immintrin.h>

#include "kernels/kv_q8_0.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet::kernels {
namespace {

inline __m256 load_q8(const int8_t* q) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q))));
}
inline __m256 broadcast_f16(uint16_t h) {
  return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(h)));
}

}  // namespace

float kv_q8_0_dot_avx2(const BlockQ8_0* k, const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps();  // lanes 0..7
  __m256 acc1 = _mm256_setzero_ps();  // lanes 8..15
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + 32 * b;
    const int8_t* q = k[b].qs;
    const __m256 d = broadcast_f16(k[b].d);
    const __m256 s0 = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(xb), load_q8(q)),
                                    _mm256_mul_ps(_mm256_loadu_ps(xb + 16), load_q8(q + 16)));
    const __m256 s1 = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(xb + 8), load_q8(q + 8)),
                                    _mm256_mul_ps(_mm256_loadu_ps(xb + 24), load_q8(q + 24)));
    acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(d, s0));
    acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(d, s1));
  }
  alignas(32) float lanes[16];
  _mm256_store_ps(lanes, acc0);
  _mm256_store_ps(lanes + 8, acc1);
  return reduce_add16(lanes);
}

void kv_q8_0_axpy_avx2(const BlockQ8_0* v, float w, float* acc, int64_t n) {
  const __m256 wv = _mm256_set1_ps(w);
  for (int64_t b = 0; b < n / 32; ++b) {
    const __m256 wd = _mm256_mul_ps(wv, broadcast_f16(v[b].d));
    float* a = acc + 32 * b;
    for (int c = 0; c < 32; c += 8) {
      _mm256_storeu_ps(
          a + c, _mm256_add_ps(_mm256_loadu_ps(a + c), _mm256_mul_ps(wd, load_q8(v[b].qs + c))));
    }
  }
}

}  // namespace bitnet::kernels
