// NEON versions of the Q8_0 KV products (kernels/kv_q8_0.hpp), on the aarch64 baseline (no dot
// product instructions needed): widening multiplies and pairwise adds give the 8 lanes of 4-byte
// sums in two 4-lane registers.
#include <arm_neon.h>

#include "common/fp16.hpp"
#include "kernels/kv_q8_0.hpp"

namespace bitnet::kernels {
namespace {

// The 4 lanes of 4-byte sums of 16 int8 products.
inline int32x4_t sums4(int8x16_t k, int8x16_t q) {
  const int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(k), vget_low_s8(q)));
  const int32x4_t hi = vpaddlq_s16(vmull_high_s8(k, q));
  return vpaddq_s32(lo, hi);
}

// Values 4c..4c+3 of 32 int8s as floats.
inline void load_q32(const int8_t* q, float32x4_t out[8]) {
  for (int half = 0; half < 2; ++half) {
    const int8x16_t v = vld1q_s8(q + 16 * half);
    const int16x8_t lo = vmovl_s8(vget_low_s8(v));
    const int16x8_t hi = vmovl_s8(vget_high_s8(v));
    out[4 * half + 0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    out[4 * half + 1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo)));
    out[4 * half + 2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    out[4 * half + 3] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)));
  }
}

template <int kHeads>
void values_block(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p,
                  int64_t p_stride, float* out, int64_t out_stride) {
  float32x4_t acc[kHeads][8];
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < 8; ++c) acc[h][c] = vld1q_f32(out + h * out_stride + 4 * c);
  }
  for (int64_t j = 0; j < n_pos; ++j) {
    const BlockQ8_0& b = v[j * v_stride];
    const float d = fp16_to_fp32(b.d);
    float32x4_t x[8];
    load_q32(b.qs, x);
    for (int h = 0; h < kHeads; ++h) {
      const float32x4_t wd = vdupq_n_f32(p[h * p_stride + j] * d);
      for (int c = 0; c < 8; ++c) acc[h][c] = vaddq_f32(acc[h][c], vmulq_f32(wd, x[c]));
    }
  }
  for (int h = 0; h < kHeads; ++h) {
    for (int c = 0; c < 8; ++c) vst1q_f32(out + h * out_stride + 4 * c, acc[h][c]);
  }
}

}  // namespace

void kv_q8_0_scores_neon(const BlockQ8_0* k, int64_t k_stride, int64_t n_pos, const BlockQ8_0* q,
                         int64_t n_q, int64_t n_blocks, float* out, int64_t out_stride) {
  for (int64_t j = 0; j < n_pos; ++j) {
    const BlockQ8_0* kj = k + j * k_stride;
    for (int64_t h = 0; h < n_q; ++h) {
      const BlockQ8_0* qh = q + h * n_blocks;
      float32x4_t lo = vdupq_n_f32(0.0f);  // lanes 0..3
      float32x4_t hi = vdupq_n_f32(0.0f);  // lanes 4..7
      for (int64_t b = 0; b < n_blocks; ++b) {
        const float32x4_t dd = vdupq_n_f32(fp16_to_fp32(kj[b].d) * fp16_to_fp32(qh[b].d));
        const int32x4_t s_lo = sums4(vld1q_s8(kj[b].qs), vld1q_s8(qh[b].qs));
        const int32x4_t s_hi = sums4(vld1q_s8(kj[b].qs + 16), vld1q_s8(qh[b].qs + 16));
        lo = vaddq_f32(lo, vmulq_f32(dd, vcvtq_f32_s32(s_lo)));
        hi = vaddq_f32(hi, vmulq_f32(dd, vcvtq_f32_s32(s_hi)));
      }
      const float32x4_t t = vaddq_f32(lo, hi);  // a0+a4, a1+a5, a2+a6, a3+a7
      const float32x2_t u = vadd_f32(vget_low_f32(t), vget_high_f32(t));
      out[h * out_stride + j] = vget_lane_f32(u, 0) + vget_lane_f32(u, 1);
    }
  }
}

void kv_q8_0_values_neon(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p,
                         int64_t n_p, int64_t p_stride, float* out, int64_t out_stride,
                         int64_t n_dims) {
  for (int64_t b = 0; b < n_dims / 32; ++b) {
    int64_t h = 0;
    for (; h + 2 <= n_p; h += 2) {
      values_block<2>(v + b, v_stride, n_pos, p + h * p_stride, p_stride,
                      out + h * out_stride + 32 * b, out_stride);
    }
    if (h < n_p) {
      values_block<1>(v + b, v_stride, n_pos, p + h * p_stride, p_stride,
                      out + h * out_stride + 32 * b, out_stride);
    }
  }
}

}  // namespace bitnet::kernels
