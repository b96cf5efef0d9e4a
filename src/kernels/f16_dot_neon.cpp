// NEON versions of the F16 dot products of ops_ref.hpp (attention over the F16 KV cache, the
// batched output head), mirroring f16_dot_avx512.cpp: each 16-lane vector is four float32x4 (lanes
// 0-3, 4-7, 8-11, 12-15), so the lanes, fused multiply-adds and reduction tree are the same, and so
// are the bits. ops_ref.cpp calls them when the neon or dotprod kernel set is selected.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "common/fp16.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet::kernels {
namespace {

struct F16 {
  float32x4_t v[4];
};

inline F16 load_f16(const uint16_t* w) {
  const float16x8_t a = vreinterpretq_f16_u16(vld1q_u16(w));
  const float16x8_t b = vreinterpretq_f16_u16(vld1q_u16(w + 8));
  return {{vcvt_f32_f16(vget_low_f16(a)), vcvt_high_f32_f16(a), vcvt_f32_f16(vget_low_f16(b)),
           vcvt_high_f32_f16(b)}};
}

inline F16 fma16(F16 acc, const uint16_t* w, const float* x) {
  const F16 wv = load_f16(w);
  for (int q = 0; q < 4; ++q) acc.v[q] = vfmaq_f32(acc.v[q], wv.v[q], vld1q_f32(x + 4 * q));
  return acc;
}

inline F16 zero16() {
  const float32x4_t z = vdupq_n_f32(0.0f);
  return {{z, z, z, z}};
}

// reduce_add16's order: halves added pairwise, upper half + lower half.
inline float reduce16(F16 v) {
  const float32x4_t h_lo = vaddq_f32(v.v[2], v.v[0]);
  const float32x4_t h_hi = vaddq_f32(v.v[3], v.v[1]);
  const float32x4_t g = vaddq_f32(h_hi, h_lo);
  const float32x2_t e = vadd_f32(vget_low_f32(g), vget_high_f32(g));  // {g0 + g2, g1 + g3}
  return vget_lane_f32(e, 0) + vget_lane_f32(e, 1);
}

}  // namespace

float dot_f16_vecdot_neon(const uint16_t* w, const float* x, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  F16 acc[4] = {zero16(), zero16(), zero16(), zero16()};
  for (int64_t i = 0; i < np; i += 64) {
    // Unrolled, the 4 accumulators live in registers; as a loop GCC kept them on the stack, a
    // store-to-load round trip per step (10x slower on long dots).
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {  // x is exact in F16: the products are exact, fma == add
      acc[j] = fma16(acc[j], w + i + 16 * j, x + i + 16 * j);
    }
  }
  F16 lanes;
  for (int q = 0; q < 4; ++q) {
    lanes.v[q] =
        vaddq_f32(vaddq_f32(acc[0].v[q], acc[2].v[q]), vaddq_f32(acc[1].v[q], acc[3].v[q]));
  }
  double sum = reduce16(lanes);
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(w[i]) * x[i]);
  return static_cast<float>(sum);
}

// tinyBLAS's 16 fma lanes (a real fused multiply-add, as the reference).
float dot_f16_lanes16_neon(const uint16_t* w, const float* x, int64_t n) {
  F16 acc = zero16();
  const int64_t full = n & ~int64_t{15};
  for (int64_t c = 0; c < full; c += 16) acc = fma16(acc, w + c, x + c);
  if (full < n) {
    // AVX-512's masked fma: lanes past n keep acc as it is (an fma with zeros would turn a -0
    // lane, which an underflowing negative product can leave, into +0).
    uint16_t wt[16] = {};
    float xt[16] = {};
    const auto count = static_cast<int32_t>(n - full);
    std::memcpy(wt, w + full, static_cast<size_t>(count) * sizeof(uint16_t));
    std::memcpy(xt, x + full, static_cast<size_t>(count) * sizeof(float));
    const F16 sum = fma16(acc, wt, xt);
    static constexpr int32_t kIndex[4] = {0, 1, 2, 3};
    for (int q = 0; q < 4; ++q) {
      const uint32x4_t live = vcltq_s32(vld1q_s32(kIndex), vdupq_n_s32(count - 4 * q));
      acc.v[q] = vbslq_f32(live, sum.v[q], acc.v[q]);
    }
  }
  return reduce16(acc);
}

}  // namespace bitnet::kernels
