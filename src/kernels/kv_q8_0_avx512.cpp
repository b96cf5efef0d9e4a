// AVX-512 versions of the Q8_0 KV products (kernels/kv_q8_0.hpp): one 16-lane register holds the
// reference's 16 lanes.
#include <immintrin.h>

#include "kernels/kv_q8_0.hpp"
#include "kernels/ops_ref.hpp"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace bitnet::kernels {
namespace {

inline __m512 load_q16(const int8_t* q) {
  return _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))));
}
inline __m512 broadcast_f16(uint16_t h) {
  return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(h)));
}

}  // namespace

float kv_q8_0_dot_avx512(const BlockQ8_0* k, const float* x, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < n / 32; ++b) {
    const __m512 lo = _mm512_mul_ps(_mm512_loadu_ps(x + 32 * b), load_q16(k[b].qs));
    const __m512 hi = _mm512_mul_ps(_mm512_loadu_ps(x + 32 * b + 16), load_q16(k[b].qs + 16));
    acc = _mm512_add_ps(acc, _mm512_mul_ps(broadcast_f16(k[b].d), _mm512_add_ps(lo, hi)));
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  return reduce_add16(lanes);
}

void kv_q8_0_axpy_avx512(const BlockQ8_0* v, float w, float* acc, int64_t n) {
  const __m512 wv = _mm512_set1_ps(w);
  for (int64_t b = 0; b < n / 32; ++b) {
    const __m512 wd = _mm512_mul_ps(wv, broadcast_f16(v[b].d));
    float* a = acc + 32 * b;
    _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), _mm512_mul_ps(wd, load_q16(v[b].qs))));
    _mm512_storeu_ps(
        a + 16, _mm512_add_ps(_mm512_loadu_ps(a + 16), _mm512_mul_ps(wd, load_q16(v[b].qs + 16))));
  }
}

}  // namespace bitnet::kernels
