// AVX2 activation quantization (PerRowAbsmax for I2_S, Q8K for TQ types), bit-identical to
// quantize_acts_ref: products in float, round half to even by the default MXCSR mode, same max
// rules.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ternary_kernels.hpp"

namespace bitnet::kernels {
namespace {

constexpr int64_t QK_K = 256;

float abs_max(const float* x, int64_t k) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float r = 0;
  for (float v : lanes) r = std::max(r, v);
  for (; i < k; ++i) r = std::max(r, std::fabs(x[i]));
  return r;
}

// q = saturate_s8(round_half_even(x * s)) for n values; returns sum(q).
int32_t quantize_scaled(const float* x, int64_t n, float s, int8_t* q) {
  const __m256 vs = _mm256_set1_ps(s);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i sum = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i v[4];
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), vs));
      v[j] =
          _mm256_max_epi32(_mm256_min_epi32(v[j], _mm256_set1_epi32(127)), _mm256_set1_epi32(-128));
      sum = _mm256_add_epi32(sum, v[j]);
    }
    const __m256i bytes =
        _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i),
                        _mm256_permutevar8x32_epi32(bytes, order));
  }
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sum);
  int32_t total = 0;
  for (int32_t v : lanes) total += v;
  for (; i < n; ++i) {
    const int v = std::clamp(static_cast<int>(std::nearbyintf(x[i] * s)), -128, 127);
    q[i] = static_cast<int8_t>(v);
    total += v;
  }
  return total;
}

void quantize_row_absmax(const float* x, int64_t k, int8_t* q, float* scale, int32_t* qsum) {
  const double max =
      abs_max(x, k);  // the max of |x| is exact in float; the reference takes it in double
  const auto s = static_cast<float>(127.0 / std::max(max, 1e-5));
  *scale = s;
  *qsum = quantize_scaled(x, k, s, q);
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
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t j = 0; j < QK_K; j += 8) {
      const __m256 hit = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)),
                                       _mm256_set1_ps(amax), _CMP_EQ_OQ);
      const int mask = _mm256_movemask_ps(hit);
      if (mask) {
        max = x[j + __builtin_ctz(static_cast<unsigned>(mask))];
        break;
      }
    }
    const float iscale = -127.f / max;
    bsum[b] = quantize_scaled(x, QK_K, iscale, q);
    d[b] = 1 / iscale;
  }
}

}  // namespace

void quantize_acts_avx2(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
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
