// ARM activation quantization (PerRowAbsmax for I2_S, Q8K for TQ types), used by both ARM sets and
// bit-identical to quantize_acts_ref: products in float, FCVTNS rounds half to even as nearbyintf
// does in the default mode, same max rules (FMAXNM ignores NaN as std::max keeps the old value).
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ternary_kernels.hpp"

namespace bitnet::kernels {
namespace {

constexpr int64_t QK_K = 256;

float abs_max(const float* x, int64_t k) {
  float32x4_t m = vdupq_n_f32(0.0f);
  const int64_t vec_end = k / 4 * 4;
  for (int64_t i = 0; i < vec_end; i += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + i)));
  float r = vmaxnmvq_f32(m);
  for (int64_t i = vec_end; i < k; ++i) r = std::max(r, std::fabs(x[i]));
  return r;
}

// q = saturate_s8(round_half_even(x * s)) for n values; returns sum(q).
int32_t quantize_scaled(const float* x, int64_t n, float s, int8_t* q) {
  const float32x4_t vs = vdupq_n_f32(s);
  const int32x4_t lo = vdupq_n_s32(-128), hi = vdupq_n_s32(127);
  int32x4_t sum = vdupq_n_s32(0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    int32x4_t v[4];
    for (int j = 0; j < 4; ++j) {
      v[j] = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + i + 4 * j), vs));
      v[j] = vmaxq_s32(vminq_s32(v[j], hi), lo);
      sum = vaddq_s32(sum, v[j]);
    }
    const int16x8_t h0 = vcombine_s16(vmovn_s32(v[0]), vmovn_s32(v[1]));
    const int16x8_t h1 = vcombine_s16(vmovn_s32(v[2]), vmovn_s32(v[3]));
    vst1q_s8(q + i, vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
  }
  int32_t total = vaddvq_s32(sum);
  for (; i < n; ++i) {
    const int v = std::clamp(static_cast<int>(std::nearbyintf(x[i] * s)), -128, 127);
    q[i] = static_cast<int8_t>(v);
    total += v;
  }
  return total;
}

void quantize_row_absmax(const float* x, int64_t k, int8_t* q, float* scale, int32_t* qsum) {
  // The max of |x| is exact in float; the reference takes it in double.
  const double max = abs_max(x, k);
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
    const float32x4_t target = vdupq_n_f32(amax);
    for (int64_t j = 0; j < QK_K; j += 4) {
      if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(x + j)), target)) == 0) continue;
      for (int64_t e = j; e < j + 4; ++e) {
        if (std::fabs(x[e]) == amax) {
          max = x[e];
          break;
        }
      }
      break;
    }
    const float iscale = -127.f / max;
    bsum[b] = quantize_scaled(x, QK_K, iscale, q);
    d[b] = 1 / iscale;
  }
}

}  // namespace

void quantize_acts_neon(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
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
