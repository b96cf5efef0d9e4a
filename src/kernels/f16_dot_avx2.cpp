// AVX2 versions of the F16 dot products of ops_ref.hpp (attention over the F16 KV cache, the
// batched output head): the 16 lanes of the AVX-512 layout as two ymm (lanes 0-7 and 8-15), reduced
// in reduce_add16's order, so the same bits as the scalar definitions. Without them an AVX2 machine
// ran these dots in scalar code, which made the F16 cache ~4x slower than Q8_0 at depth.
#include <immintrin.h>

#include <cstdint>

#include "kernels/ops_ref.hpp"

namespace bitnet::kernels {
namespace {

struct Lanes16 {
  __m256 lo, hi;
};

inline __m256 load_f16x8(const uint16_t* w) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
}

// reduce_add16's order: upper half + lower half, pairwise down to one value.
inline float reduce16(Lanes16 v) {
  const __m256 h = _mm256_add_ps(v.hi, v.lo);
  const __m128 g = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
  const __m128 e = _mm_add_ps(g, _mm_movehl_ps(g, g));  // {g0 + g2, g1 + g3}
  return _mm_cvtss_f32(_mm_add_ss(e, _mm_movehdup_ps(e)));
}

inline Lanes16 add(Lanes16 a, Lanes16 b) {
  return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}

}  // namespace

float dot_f16_vecdot_avx2(const uint16_t* w, const float* x, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  Lanes16 acc[4];
  for (Lanes16& a : acc) a = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < np; i += 64) {
    // Unrolled, the 4 accumulators live in registers; as a loop GCC kept them on the stack, a
    // store-to-load round trip per step (10x slower on long dots).
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      // A multiply and an add, as the scalar definition (no contraction): equal to an fma when
      // x is exact in F16, and still equal to the definition when it is not.
      const int64_t k = i + 16 * j;
      acc[j].lo =
          _mm256_add_ps(acc[j].lo, _mm256_mul_ps(load_f16x8(w + k), _mm256_loadu_ps(x + k)));
      acc[j].hi = _mm256_add_ps(acc[j].hi,
                                _mm256_mul_ps(load_f16x8(w + k + 8), _mm256_loadu_ps(x + k + 8)));
    }
  }
  double sum = reduce16(add(add(acc[0], acc[2]), add(acc[1], acc[3])));
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(_cvtsh_ss(w[i]) * x[i]);
  return static_cast<float>(sum);
}

// tinyBLAS's 16 fma lanes (a real fused multiply-add, as the reference).
float dot_f16_lanes16_avx2(const uint16_t* w, const float* x, int64_t n) {
  Lanes16 acc = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  const int64_t full = n & ~int64_t{15};
  for (int64_t c = 0; c < full; c += 16) {
    acc.lo = _mm256_fmadd_ps(load_f16x8(w + c), _mm256_loadu_ps(x + c), acc.lo);
    acc.hi = _mm256_fmadd_ps(load_f16x8(w + c + 8), _mm256_loadu_ps(x + c + 8), acc.hi);
  }
  if (full < n) {
    // The lanes past n keep their value (a padded fma would turn a -0 lane into +0).
    alignas(32) float lanes[16];
    _mm256_store_ps(lanes, acc.lo);
    _mm256_store_ps(lanes + 8, acc.hi);
    for (int64_t i = full; i < n; ++i) {
      float& lane = lanes[i - full];
      lane = _mm_cvtss_f32(
          _mm_fmadd_ss(_mm_set_ss(_cvtsh_ss(w[i])), _mm_set_ss(x[i]), _mm_set_ss(lane)));
    }
    acc = {_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8)};
  }
  return reduce16(acc);
}

}  // namespace bitnet::kernels
