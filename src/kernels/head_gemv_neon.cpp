// NEON head kernels in head_gemv.hpp's order. The integer dots use widening multiplies (vmull_s8,
// pairwise-added into int32 lanes): exact, so one version serves neon and dotprod.
//  - Q8_0: a 16-byte quarter of a group's 64-byte vector holds 4 values of 4 blocks; the oracle's
//    16 float lanes are four float32x4 (blocks 0-3, 4-7, 8-11, 12-15 of each group).
//  - Q6_K: ggml's block layout unpacked 16 values (one sub-block) at a time.
#include <arm_neon.h>

#include "common/fp16.hpp"
#include "kernels/head_gemv.hpp"

namespace bitnet::kernels {
namespace {

constexpr int64_t kQ6BlockBytes = 210;

// |w * a| <= 128 * 127, so a pair of products fits int16 before vpadalq widens it.
inline int32x4_t dot_pairs(int32x4_t acc, int8x16_t w, int8x16_t a) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(a)));
  return vpadalq_s16(acc, vmull_high_s8(w, a));
}

void q8_0_rows(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const int64_t groups = w.cols_padded / kHeadQ8Group;
  const int64_t scales_per_row = w.cols_padded / 32;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int8_t* wr = w.q8 + r * w.cols_padded;
    const uint16_t* ws = w.q8_scales + r * scales_per_row;
    float32x4_t acc[4];  // the oracle's lanes 4q..4q+3
    for (auto& v : acc) v = vdupq_n_f32(0.0f);
    for (int64_t g = 0; g < groups; ++g) {
      const int8_t* wg = wr + g * kHeadQ8Group;
      const int8_t* ag = a.q.data() + g * kHeadQ8Group;
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) {
        // Lanes 2i, 2i+1 of `half[h]` hold halves of block 4q + 2h + i.
        int32x4_t pairs[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) {
          const int8x16_t wv = vld1q_s8(wg + c * 64 + q * 16);
          const int8x16_t av = vld1q_s8(ag + c * 64 + q * 16);
          pairs[0] = vpadalq_s16(pairs[0], vmull_s8(vget_low_s8(wv), vget_low_s8(av)));
          pairs[1] = vpadalq_s16(pairs[1], vmull_high_s8(wv, av));
        }
        const int32x4_t sums = vpaddq_s32(pairs[0], pairs[1]);  // blocks 4q..4q+3
        const int64_t first = g * kHeadQ8GroupBlocks + q * 4;
        const float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(ws + first)));
        const float32x4_t d = vmulq_f32(dw, vld1q_f32(a.d.data() + first));
        acc[q] = vaddq_f32(acc[q], vmulq_f32(d, vcvtq_f32_s32(sums)));
      }
    }
    const float32x4_t h_lo = vaddq_f32(acc[0], acc[2]);  // h[j] = acc[j] + acc[8 + j]
    const float32x4_t h_hi = vaddq_f32(acc[1], acc[3]);
    const float32x4_t g = vaddq_f32(h_lo, h_hi);
    const float32x2_t e = vadd_f32(vget_low_f32(g), vget_high_f32(g));
    y[r] = vget_lane_f32(e, 0) + vget_lane_f32(e, 1);
  }
}

void q6_k_rows(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const int64_t blocks = w.cols / 256;
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  const uint8x16_t bits45 = vdupq_n_u8(0x30);
  const int8x16_t offset = vdupq_n_s8(32);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = w.q6 + r * w.q6_row_bytes;
    float yr = 0;
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* block = row + b * kQ6BlockBytes;
      const int8_t* q = a.q.data() + b * 256;
      const auto* scales = reinterpret_cast<const int8_t*>(block + 192);
      int32x4_t acc = vdupq_n_s32(0);
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        const uint8_t* ql = block + half * 64;
        const uint8_t* qh = block + 128 + half * 32;
        const int8_t* qa = q + half * 128;
        const int8_t* sc = scales + half * 8;
#pragma GCC unroll 2
        for (int l = 0; l < 32; l += 16) {  // values l..l+15 of each of the four 32-value rows
          const uint8x16_t ql_a = vld1q_u8(ql + l);
          const uint8x16_t ql_b = vld1q_u8(ql + 32 + l);
          const uint8x16_t h = vld1q_u8(qh + l);
          const uint8x16_t levels[4] = {
              vorrq_u8(vandq_u8(ql_a, low4), vandq_u8(vshlq_n_u8(h, 4), bits45)),
              vorrq_u8(vandq_u8(ql_b, low4), vandq_u8(vshlq_n_u8(h, 2), bits45)),
              vorrq_u8(vshrq_n_u8(ql_a, 4), vandq_u8(h, bits45)),
              vorrq_u8(vshrq_n_u8(ql_b, 4), vandq_u8(vshrq_n_u8(h, 2), bits45)),
          };
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) {
            // Values 32k + l .. +15 of this half: sub-block 2k + l/16.
            const int8x16_t wv = vsubq_s8(vreinterpretq_s8_u8(levels[k]), offset);
            const int8x16_t av = vld1q_s8(qa + 32 * k + l);
            const int32x4_t sub = dot_pairs(vdupq_n_s32(0), wv, av);
            acc = vmlaq_n_s32(acc, sub, sc[2 * k + l / 16]);
          }
        }
      }
      const int32_t sum = vaddvq_s32(acc);
      const float d = fp16_to_fp32(static_cast<uint16_t>(block[208] | (block[209] << 8))) * a.d[b];
      yr = yr + d * static_cast<float>(sum);
    }
    y[r] = yr;
  }
}

}  // namespace

void head_gemv_rows_neon(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
                         int64_t row_end) {
  if (w.type == TensorType::Q6_K) {
    q6_k_rows(w, a, y, row_begin, row_end);
  } else {
    q8_0_rows(w, a, y, row_begin, row_end);
  }
}

}  // namespace bitnet::kernels
