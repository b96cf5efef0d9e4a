// NEON versions of the Q8_0 KV products (kernels/kv_q8_0.hpp): the reference's 16 lanes in four
// 4-lane registers.
#include <arm_neon.h>

#include "common/fp16.hpp"
#include "kernels/kv_q8_0.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet::kernels {
namespace {

// Values 4c..4c+3 of 16 int8s as floats.
inline void load_q16(const int8_t* q, float32x4_t out[4]) {
  const int8x16_t v = vld1q_s8(q);
  const int16x8_t lo = vmovl_s8(vget_low_s8(v));
  const int16x8_t hi = vmovl_s8(vget_high_s8(v));
  out[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
  out[1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo)));
  out[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
  out[3] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)));
}

}  // namespace

float kv_q8_0_dot_neon(const BlockQ8_0* k, const float* x, int64_t n) {
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + 32 * b;
    float32x4_t lo[4], hi[4];
    load_q16(k[b].qs, lo);
    load_q16(k[b].qs + 16, hi);
    const float32x4_t d = vdupq_n_f32(fp16_to_fp32(k[b].d));
    for (int c = 0; c < 4; ++c) {
      const float32x4_t s = vaddq_f32(vmulq_f32(vld1q_f32(xb + 4 * c), lo[c]),
                                      vmulq_f32(vld1q_f32(xb + 16 + 4 * c), hi[c]));
      acc[c] = vaddq_f32(acc[c], vmulq_f32(d, s));
    }
  }
  float lanes[16];
  for (int c = 0; c < 4; ++c) vst1q_f32(lanes + 4 * c, acc[c]);
  return reduce_add16(lanes);
}

void kv_q8_0_axpy_neon(const BlockQ8_0* v, float w, float* acc, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float32x4_t wd = vdupq_n_f32(w * fp16_to_fp32(v[b].d));
    float* a = acc + 32 * b;
    for (int half = 0; half < 2; ++half) {
      float32x4_t q[4];
      load_q16(v[b].qs + 16 * half, q);
      for (int c = 0; c < 4; ++c) {
        float* p = a + 16 * half + 4 * c;
        vst1q_f32(p, vaddq_f32(vld1q_f32(p), vmulq_f32(wd, q[c])));
      }
    }
  }
}

}  // namespace bitnet::kernels
