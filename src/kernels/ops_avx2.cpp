// AVX2 small ops (ops_x86.hpp over pairs of ymm: lanes 0-7 and 8-15 of the AVX-512 layout, so
// reductions take the same tree). AVX2 has no scalef: exp scales j by 2^n built from the exponent
// bits, which is one correctly rounded multiply as long as 2^n is a normal float (|n| <= 126);
// otherwise by 2^(n>>1) and then 2^(n - (n>>1)), where the first product is exact (normal, no
// rounding) and the second rounds once: scalef's result, subnormal and overflowing ones included.
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "kernels/ops.hpp"
#include "kernels/ops_x86.hpp"

namespace bitnet::kernels {
namespace {

struct Avx2 {
  struct F {
    __m256 lo, hi;
  };

  // Lanes i < count of one half (count may be <= 0 or >= 8).
  static __m256i first(int64_t count) {
    const auto c = static_cast<int>(std::clamp<int64_t>(count, 0, 8));
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }

  template <class Op>
  static F each(F a, F b, Op op) {
    return {op(a.lo, b.lo), op(a.hi, b.hi)};
  }
  template <class Op>
  static F each(F a, F b, F c, Op op) {
    return {op(a.lo, b.lo, c.lo), op(a.hi, b.hi, c.hi)};
  }

  static F set1(float v) { return {_mm256_set1_ps(v), _mm256_set1_ps(v)}; }
  static F zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static F load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static void store(float* p, F v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
  }
  static F load_partial(const float* p, int64_t count) {
    return {_mm256_maskload_ps(p, first(count)), _mm256_maskload_ps(p + 8, first(count - 8))};
  }
  static void store_partial(float* p, F v, int64_t count) {
    _mm256_maskstore_ps(p, first(count), v.lo);
    _mm256_maskstore_ps(p + 8, first(count - 8), v.hi);
  }
  static F keep_first(F v, int64_t count, float fill) {
    const __m256 f = _mm256_set1_ps(fill);
    return {_mm256_blendv_ps(f, v.lo, _mm256_castsi256_ps(first(count))),
            _mm256_blendv_ps(f, v.hi, _mm256_castsi256_ps(first(count - 8)))};
  }

  static F add(F a, F b) {
    return each(a, b, [](__m256 x, __m256 y) { return _mm256_add_ps(x, y); });
  }
  static F sub(F a, F b) {
    return each(a, b, [](__m256 x, __m256 y) { return _mm256_sub_ps(x, y); });
  }
  static F mul(F a, F b) {
    return each(a, b, [](__m256 x, __m256 y) { return _mm256_mul_ps(x, y); });
  }
  static F div(F a, F b) {
    return each(a, b, [](__m256 x, __m256 y) { return _mm256_div_ps(x, y); });
  }
  static F max(F a, F b) {
    return each(a, b, [](__m256 x, __m256 y) { return _mm256_max_ps(x, y); });
  }
  static F neg(F a) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    return {_mm256_xor_ps(a.lo, sign), _mm256_xor_ps(a.hi, sign)};
  }
  static F fmadd(F a, F b, F c) {
    return each(a, b, c, [](__m256 x, __m256 y, __m256 z) { return _mm256_fmadd_ps(x, y, z); });
  }
  static F fnmadd(F a, F b, F c) {
    return each(a, b, c, [](__m256 x, __m256 y, __m256 z) { return _mm256_fnmadd_ps(x, y, z); });
  }
  static F fmsub(F a, F b, F c) {
    return each(a, b, c, [](__m256 x, __m256 y, __m256 z) { return _mm256_fmsub_ps(x, y, z); });
  }

  // 2^e for integer e in [-126, 127].
  static __m256 exp2_int(__m256i e) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
  }
  static __m256 scale_by_exp2(__m256 j, __m256 n) {
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256i e = _mm256_cvtps_epi32(n);  // n is an integer (or out of range, replaced below)
    // NaN lanes take this path too: j is NaN there, and so is every product.
    const __m256 large = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    if (_mm256_movemask_ps(large) == 0) return _mm256_mul_ps(j, exp2_int(e));
    const __m256i e1 = _mm256_srai_epi32(e, 1);
    const __m256i e2 = _mm256_sub_epi32(e, e1);
    const __m256 scaled = _mm256_mul_ps(_mm256_mul_ps(j, exp2_int(e1)), exp2_int(e2));
    const __m256 out_of_range = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 non_positive = _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ);
    const __m256 limit =
        _mm256_blendv_ps(_mm256_set1_ps(INFINITY), _mm256_setzero_ps(), non_positive);
    return _mm256_blendv_ps(scaled, limit, out_of_range);
  }
  static F scale_by_exp2(F j, F n) {
    return {scale_by_exp2(j.lo, n.lo), scale_by_exp2(j.hi, n.hi)};
  }

  static float reduce_add16(F v) {
    const __m256 t8 = _mm256_add_ps(v.hi, v.lo);
    const __m128 t4 = _mm_add_ps(_mm256_extractf128_ps(t8, 1), _mm256_castps256_ps128(t8));
    const __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));    // t4[0]+t4[2], t4[1]+t4[3]
    return _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));  // t2[0] + t2[1]
  }
  static float reduce_max(F v) {
    const __m256 m8 = _mm256_max_ps(v.lo, v.hi);
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(m8, 1), _mm256_castps256_ps128(m8));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
  }
  static double sum_as_double(F v) {
    const __m256d a = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v.lo)),
                                    _mm256_cvtps_pd(_mm256_extractf128_ps(v.lo, 1)));
    const __m256d b = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v.hi)),
                                    _mm256_cvtps_pd(_mm256_extractf128_ps(v.hi, 1)));
    const __m256d s4 = _mm256_add_pd(a, b);
    const __m128d s2 = _mm_add_pd(_mm256_extractf128_pd(s4, 1), _mm256_castpd256_pd128(s4));
    return _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
  }
  static float min_nonzero(F v) {
    const __m256 inf = _mm256_set1_ps(INFINITY);
    const __m256 lo =
        _mm256_blendv_ps(v.lo, inf, _mm256_cmp_ps(v.lo, _mm256_setzero_ps(), _CMP_EQ_OQ));
    const __m256 hi =
        _mm256_blendv_ps(v.hi, inf, _mm256_cmp_ps(v.hi, _mm256_setzero_ps(), _CMP_EQ_OQ));
    const __m256 m8 = _mm256_min_ps(lo, hi);
    __m128 m = _mm_min_ps(_mm256_extractf128_ps(m8, 1), _mm256_castps256_ps128(m8));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)));
  }
  // 8 (even, odd) pairs from p[0..16).
  static void load_pairs8(const float* p, __m256& even, __m256& odd) {
    const __m256 a = _mm256_loadu_ps(p);      // e0 o0 e1 o1 | e2 o2 e3 o3
    const __m256 b = _mm256_loadu_ps(p + 8);  // e4 o4 e5 o5 | e6 o6 e7 o7
    // shuffle: e0 e1 e4 e5 | e2 e3 e6 e7; the 64-bit permute puts them in order.
    even = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                              _MM_SHUFFLE(3, 1, 2, 0)));
    odd = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))),
                              _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static void load_pairs(const float* p, F& even, F& odd) {
    load_pairs8(p, even.lo, odd.lo);
    load_pairs8(p + 16, even.hi, odd.hi);
  }
};

}  // namespace

const OpsKernels& ops_kernels_avx2() {
  static const OpsKernels set = x86::make_ops_kernels<Avx2>(Isa::avx2);
  return set;
}

}  // namespace bitnet::kernels
