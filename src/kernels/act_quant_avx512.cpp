// AVX-512 activation quantization (PerRowAbsmax for I2_S, Q8K for TQ types), bit-identical to
// quantize_acts_ref: products in float, round half to even by the default MXCSR mode, same max
// rules.
#include <immintrin.h>

// GCC 12's AVX-512 reductions start from _mm512_undefined_*(), which -Wmaybe-uninitialized reports
// once inlined here: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ternary_kernels.hpp"

namespace bitnet::kernels {
namespace {

constexpr int64_t QK_K = 256;

float abs_max(const float* x, int64_t k) {
  __m512 m = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  if (i < k) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (k - i)) - 1);
    m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(tail, x + i)));
  }
  return _mm512_reduce_max_ps(m);
}

// q = saturate_s8(round_half_even(x * s)) for n values (a multiple of 16 or a masked tail); returns
// sum(q).
__m512i quantize_scaled(const float* x, int64_t n, __m512 s, int8_t* q, __m512i sum) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), s));
    const __m512i c =
        _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-128));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(c));
    sum = _mm512_add_epi32(sum, c);
  }
  if (i < n) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + i), s));
    const __m512i c =
        _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-128));
    _mm512_mask_cvtepi32_storeu_epi8(q + i, tail, c);
    sum = _mm512_add_epi32(sum, c);  // masked-off lanes are zero
  }
  return sum;
}

void quantize_row_absmax(const float* x, int64_t k, int8_t* q, float* scale, int32_t* qsum) {
  const double max =
      abs_max(x, k);  // the max of |x| is exact in float; the reference takes it in double
  const auto s = static_cast<float>(127.0 / std::max(max, 1e-5));
  *scale = s;
  *qsum =
      _mm512_reduce_add_epi32(quantize_scaled(x, k, _mm512_set1_ps(s), q, _mm512_setzero_si512()));
}

void quantize_row_q8k(const float* x, int64_t k, int8_t* q, float* d, int32_t* bsum) {
  for (int64_t b = 0; b < k / QK_K; ++b, x += QK_K, q += QK_K) {
    const float amax = abs_max(x, QK_K);
    if (amax == 0) {
      d[b] = 0;
      bsum[b] = 0;
      std::memset(q, 0, QK_K);
      continue;
    }
    float max = 0;  // the signed value of the first element of largest magnitude
    for (int64_t j = 0; j < QK_K; j += 16) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)),
                                               _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (hit) {
        max = x[j + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.f / max;
    bsum[b] = _mm512_reduce_add_epi32(
        quantize_scaled(x, QK_K, _mm512_set1_ps(iscale), q, _mm512_setzero_si512()));
    d[b] = 1 / iscale;
  }
}

}  // namespace

void quantize_acts_avx512(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                          QuantizedActs& out) {
  if (rule == ActQuant::Q8K && k % QK_K != 0) {
    quantize_acts_ref(rule, x, n_tokens, k, out);  // throws the reference's error
    return;
  }
  out.rule = rule;
  out.k = k;
  out.n_tokens = n_tokens;
  out.q.resize(static_cast<size_t>(n_tokens * k));
  if (rule == ActQuant::PerRowAbsmax) {
    out.scale.resize(static_cast<size_t>(n_tokens));
    out.qsum.resize(static_cast<size_t>(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t) {
      quantize_row_absmax(x + t * k, k, out.q.data() + t * k, &out.scale[t], &out.qsum[t]);
    }
  } else {
    const int64_t nb = k / QK_K;
    out.scale.resize(static_cast<size_t>(n_tokens * nb));
    out.bsum.resize(static_cast<size_t>(n_tokens * nb));
    for (int64_t t = 0; t < n_tokens; ++t) {
      quantize_row_q8k(x + t * k, k, out.q.data() + t * k, out.scale.data() + t * nb,
                       out.bsum.data() + t * nb);
    }
  }
}

}  // namespace bitnet::kernels
