// AVX-512 small ops (ops_x86.hpp over one zmm). exp's final scaling is ggml_v_expf's own:
// _mm512_scalef_ps(j, n), then 0 or +inf where |n| > 192.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(): a -Wmaybe-uninitialized false
// positive once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <climits>
#include <cmath>

#include "kernels/ops.hpp"
#include "kernels/ops_x86.hpp"

namespace bitnet::kernels {
namespace {

struct Avx512 {
  using F = __m512;

  // The first `count` (< 16) lanes.
  static __mmask16 first(int64_t count) { return static_cast<__mmask16>((1u << count) - 1u); }

  static F set1(float v) { return _mm512_set1_ps(v); }
  static F zero() { return _mm512_setzero_ps(); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F load_partial(const float* p, int64_t count) {
    return _mm512_maskz_loadu_ps(first(count), p);
  }
  static void store_partial(float* p, F v, int64_t count) {
    _mm512_mask_storeu_ps(p, first(count), v);
  }
  static F keep_first(F v, int64_t count, float fill) {
    return _mm512_mask_blend_ps(first(count), _mm512_set1_ps(fill), v);
  }

  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F neg(F a) {
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN)));
  }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }
  static F fmsub(F a, F b, F c) { return _mm512_fmsub_ps(a, b, c); }

  static F scale_by_exp2(F j, F n) {
    const F scaled = _mm512_scalef_ps(j, n);
    const __mmask16 out_of_range =
        _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    if (out_of_range == 0) return scaled;
    const __mmask16 non_positive = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
    const F limit = _mm512_mask_blend_ps(non_positive, _mm512_set1_ps(INFINITY), zero());
    return _mm512_mask_blend_ps(out_of_range, scaled, limit);
  }

  static float reduce_add8(__m256 t8) {
    const __m128 t4 = _mm_add_ps(_mm256_extractf128_ps(t8, 1), _mm256_castps256_ps128(t8));
    const __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));    // t4[0]+t4[2], t4[1]+t4[3]
    return _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));  // t2[0] + t2[1]
  }
  static __m256 high_half(F v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  }
  static float reduce_add16(F v) {
    return reduce_add8(_mm256_add_ps(high_half(v), _mm512_castps512_ps256(v)));
  }
  static float reduce_max(F v) { return _mm512_reduce_max_ps(v); }
  static double sum_as_double(F v) {
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const __m512d hi = _mm512_cvtps_pd(high_half(v));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
  }
  static float min_nonzero(F v) {
    const __mmask16 zeros = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_EQ_OQ);
    return _mm512_reduce_min_ps(_mm512_mask_blend_ps(zeros, v, _mm512_set1_ps(INFINITY)));
  }
  static void load_pairs(const float* p, F& even, F& odd) {
    const F a = load(p);
    const F b = load(p + 16);
    const __m512i even_idx =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    even = _mm512_permutex2var_ps(a, even_idx, b);
    odd = _mm512_permutex2var_ps(a, _mm512_add_epi32(even_idx, _mm512_set1_epi32(1)), b);
  }
};

}  // namespace

const OpsKernels& ops_kernels_avx512() {
  static const OpsKernels set = x86::make_ops_kernels<Avx512>(Isa::avx512);
  return set;
}

}  // namespace bitnet::kernels
