#include "quant/quantize.hpp"

#if defined(__SSE__)
#include <xmmintrin.h>  // SSE: part of baseline x86-64
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"

namespace bitnet {
namespace {

constexpr int64_t kQ8Block = 32;
constexpr int64_t kQ8BlockBytes = 34;  // fp16 d, 32 x int8
constexpr int64_t kSuperBlock = 256;
constexpr int64_t kQ6BlockBytes = 210;  // ql[128], qh[64], int8 scales[16], fp16 d
constexpr int kSubBlock = 16;
constexpr int kQ6Max = 32;              // q in [-32, 31] before the +32 offset
constexpr float kGroupMaxEps = 1e-15f;  // ggml's GROUP_MAX_EPS: below it a group is all zero

// ggml's nearest_int, the same way: adding 1.5 * 2^23 rounds to an integer (half to even, the
// default FP environment) and subtracting it again is exact, for |x| < 2^22 (the reference asserts
// that range). Kept as a float so the clamping and the sums need no conversions.
constexpr float kRoundMagic = 12582912.0f;

float nearest_int_float(float x) {
  return (x + kRoundMagic) - kRoundMagic;
}

int nearest_int(float x) {
  return static_cast<int>(nearest_int_float(x));
}

// roundf (half away from zero) for |x| <= 2^31, without a libm call: truncation is exact and so
// is the remainder.
int round_half_away(float x) {
  const auto truncated = static_cast<int>(x);
  const float rest = x - static_cast<float>(truncated);
  return truncated + (rest >= 0.5f ? 1 : 0) - (rest <= -0.5f ? 1 : 0);
}

void store_fp16(uint8_t* dst, float value) {
  const uint16_t h = fp32_to_fp16(value);
  std::memcpy(dst, &h, 2);
}

void quantize_q8_0(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQ8Block; ++b, x += kQ8Block, dst += kQ8BlockBytes) {
    float amax = 0.0f;
    for (int64_t j = 0; j < kQ8Block; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_fp16(dst, d);
    for (int64_t j = 0; j < kQ8Block; ++j) {
      dst[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(round_half_away(x[j] * id)));
    }
  }
}

float clamp_level(float rounded) {
  return std::min(std::max(rounded, static_cast<float>(-kQ6Max)), static_cast<float>(kQ6Max - 1));
}

// ggml's make_qx_quants(16, 32, x, L, rmse_type = 1, no weights): the scale of one sub-block and
// its levels L (0..63). Tries iscale = -32/max and 18 neighbours -(32 + 0.1*is)/max, is = -9..9,
// and keeps the first one with the best weighted fit sum(w*x*l)^2 / sum(w*l*l), w = x^2.
//
// Each candidate's sums are accumulated in element order exactly as the reference does; the
// candidates are independent, so they are computed four at a time in the lanes of SSE vectors
// (baseline x86-64; element-wise IEEE operations give the same bits as one at a time), all five
// groups side by side, which takes the 16-long chains of dependent adds off the critical path.
// The choice then walks the candidates in the reference's order.
constexpr int kCandidates = 19;
constexpr int kGroups = 5;  // 20 lanes: the candidates and one ignored copy of the first

float make_qx_quants(const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < kSubBlock; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, kSubBlock);
    return 0.0f;
  }
  alignas(16) float iscale[kGroups * 4];
  iscale[0] = static_cast<float>(-kQ6Max) / max;
  iscale[kGroups * 4 - 1] = iscale[0];
  for (int is = -9, c = 1; is <= 9; ++is) {
    if (is != 0) iscale[c++] = -(static_cast<float>(kQ6Max) + 0.1f * static_cast<float>(is)) / max;
  }
  alignas(16) float sumlx[kGroups * 4];
  alignas(16) float suml2[kGroups * 4];
#if defined(__SSE__)
  const __m128 magic = _mm_set1_ps(kRoundMagic);
  const __m128 lo = _mm_set1_ps(static_cast<float>(-kQ6Max));
  const __m128 hi = _mm_set1_ps(static_cast<float>(kQ6Max - 1));
  __m128 is[kGroups], slx[kGroups], sl2[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    is[g] = _mm_load_ps(iscale + 4 * g);
    slx[g] = sl2[g] = _mm_setzero_ps();
  }
  for (int i = 0; i < kSubBlock; ++i) {
    const float w = x[i] * x[i];
    const __m128 xv = _mm_set1_ps(x[i]);
    const __m128 wv = _mm_set1_ps(w);
    const __m128 wxv = _mm_set1_ps(w * x[i]);
#pragma GCC unroll 5
    for (int g = 0; g < kGroups; ++g) {
      const __m128 rounded = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(is[g], xv), magic), magic);
      const __m128 l = _mm_min_ps(_mm_max_ps(rounded, lo), hi);
      slx[g] = _mm_add_ps(slx[g], _mm_mul_ps(wxv, l));
      sl2[g] = _mm_add_ps(sl2[g], _mm_mul_ps(_mm_mul_ps(wv, l), l));
    }
  }
  for (int g = 0; g < kGroups; ++g) {
    _mm_store_ps(sumlx + 4 * g, slx[g]);
    _mm_store_ps(suml2 + 4 * g, sl2[g]);
  }
#else
  // The same element-wise operations one lane at a time (ARM and other targets).
  std::memset(sumlx, 0, sizeof(sumlx));
  std::memset(suml2, 0, sizeof(suml2));
  for (int i = 0; i < kSubBlock; ++i) {
    const float w = x[i] * x[i];
    const float wx = w * x[i];
    for (int c = 0; c < kGroups * 4; ++c) {
      const float rounded = (iscale[c] * x[i] + kRoundMagic) - kRoundMagic;
      const float l = clamp_level(rounded);
      sumlx[c] += wx * l;
      suml2[c] += (w * l) * l;
    }
  }
#endif
  int chosen = 0;
  float scale = suml2[0] != 0.0f ? sumlx[0] / suml2[0] : 0.0f;
  float best = scale * sumlx[0];
  for (int c = 1; c < kCandidates; ++c) {
    if (suml2[c] > 0 && sumlx[c] * sumlx[c] > best * suml2[c]) {
      chosen = c;
      scale = sumlx[c] / suml2[c];
      best = scale * sumlx[c];
    }
  }
  for (int i = 0; i < kSubBlock; ++i) {
    L[i] = static_cast<int8_t>(clamp_level(nearest_int_float(iscale[chosen] * x[i])) + kQ6Max);
  }
  return scale;
}

// ggml's block_q6_K bit layout: for each 128-value half, ql[l] holds values l and l + 64 (low
// nibbles), ql[l + 32] values l + 32 and l + 96; qh[l] holds the top 2 bits of l, l + 32, l + 64,
// l + 96 at shifts 0, 2, 4, 6.
void pack_q6_k(const int8_t* L, uint8_t* ql, uint8_t* qh) {
  for (int half = 0; half < 2; ++half, L += 128, ql += 64, qh += 32) {
    for (int l = 0; l < 32; ++l) {
      const auto q1 = static_cast<uint8_t>(L[l]);
      const auto q2 = static_cast<uint8_t>(L[l + 32]);
      const auto q3 = static_cast<uint8_t>(L[l + 64]);
      const auto q4 = static_cast<uint8_t>(L[l + 96]);
      ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
      ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
      qh[l] =
          static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

void quantize_q6_k(const float* x, uint8_t* dst, int64_t n) {
  int8_t L[kSuperBlock];
  float scales[kSuperBlock / kSubBlock];
  for (int64_t b = 0; b < n / kSuperBlock; ++b, x += kSuperBlock, dst += kQ6BlockBytes) {
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < kSuperBlock / kSubBlock; ++ib) {
      scales[ib] = make_qx_quants(x + kSubBlock * ib, L + kSubBlock * ib);
      const float abs_scale = std::fabs(scales[ib]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[ib];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(dst, 0, kQ6BlockBytes);  // d = +0 as well
      continue;
    }
    auto* block_scales = reinterpret_cast<int8_t*>(dst + 192);
    const float iscale = -128.0f / max_scale;
    store_fp16(dst + 208, 1 / iscale);
    for (int ib = 0; ib < kSuperBlock / kSubBlock; ++ib) {
      block_scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    }
    const float d_super = fp16_to_fp32(static_cast<uint16_t>(dst[208] | (dst[209] << 8)));
    for (int ib = 0; ib < kSuperBlock / kSubBlock; ++ib) {
      const float d = d_super * static_cast<float>(block_scales[ib]);
      if (d == 0.0f) continue;  // as the reference: the sub-block keeps make_qx_quants' levels
      for (int i = 0; i < kSubBlock; ++i) {
        const float l = clamp_level(nearest_int_float(x[kSubBlock * ib + i] / d));
        L[kSubBlock * ib + i] = static_cast<int8_t>(l + kQ6Max);
      }
    }
    pack_q6_k(L, dst, dst + 128);
  }
}

}  // namespace

bool can_quantize_row(TensorType type) {
  return type == TensorType::Q8_0 || type == TensorType::Q6_K;
}

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
  if (!can_quantize_row(type)) {
    throw Error(ErrorCategory::config, "quantize_row: cannot quantize to " +
                                           std::string(to_string(type)) +
                                           " (supported: Q8_0, Q6_K)");
  }
  const int64_t block = traits(type).block_size;
  if (n < 0 || n % block != 0) {
    throw Error(ErrorCategory::config,
                "quantize_row: " + std::to_string(n) + " values are not a whole number of " +
                    std::string(to_string(type)) + " blocks of " + std::to_string(block));
  }
  auto* out = static_cast<uint8_t*>(dst);
  if (type == TensorType::Q8_0) {
    quantize_q8_0(src, out, n);
  } else {
    quantize_q6_k(src, out, n);
  }
}

}  // namespace bitnet
