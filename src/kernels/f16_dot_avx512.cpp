// AVX-512 versions of the F16 dot products of ops_ref.hpp (attention over the F16 KV cache, the
// batched output head): the same lanes and reduction order, so the same bits. ops_ref.cpp calls
// them when the AVX-512 kernel set is selected.
#include <immintrin.h>

#include <cstdint>

#include "kernels/ops_ref.hpp"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -W(maybe-)uninitialized
// reports once inlined: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace bitnet::kernels {
namespace {

inline __m512 load_f16(const uint16_t* w) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
}

// reduce_add16's order: halves added pairwise, upper half + lower half.
inline float reduce16(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_extractf32x8_ps(v, 1), _mm512_castps512_ps256(v));
  const __m128 g = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
  const __m128 e = _mm_add_ps(g, _mm_movehl_ps(g, g));  // {g0 + g2, g1 + g3}
  return _mm_cvtss_f32(_mm_add_ss(e, _mm_movehdup_ps(e)));
}

}  // namespace

float dot_f16_vecdot_avx512(const uint16_t* w, const float* x, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
  for (int64_t i = 0; i < np; i += 64) {
    // Unrolled, the 4 accumulators live in registers; as a loop GCC kept them on the stack, a
    // store-to-load round trip per step (10x slower on long dots).
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {  // x is exact in F16: the products are exact, fma == add
      acc[j] = _mm512_fmadd_ps(load_f16(w + i + 16 * j), _mm512_loadu_ps(x + i + 16 * j), acc[j]);
    }
  }
  const __m512 lanes = _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]));
  double sum = reduce16(lanes);
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(_cvtsh_ss(w[i]) * x[i]);
  return static_cast<float>(sum);
}

// tinyBLAS's 16 fma lanes (a real fused multiply-add, as the reference).
float dot_f16_lanes16_avx512(const uint16_t* w, const float* x, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  const int64_t full = n & ~int64_t{15};
  for (int64_t c = 0; c < full; c += 16) {
    acc = _mm512_fmadd_ps(load_f16(w + c), _mm512_loadu_ps(x + c), acc);
  }
  if (full < n) {
    const auto m = static_cast<__mmask16>((1u << (n - full)) - 1);
    const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + full));
    acc = _mm512_mask3_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + full), acc, m);
  }
  return reduce16(acc);
}

}  // namespace bitnet::kernels
