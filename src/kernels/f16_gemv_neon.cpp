// NEON f16_gemv in f16_gemv.hpp's order: each 16-lane accumulator is four float32x4 (lanes 0-3,
// 4-7, 8-11, 12-15), so every lane sees the same fused multiply-adds and the same reduction tree.
// One row at a time: its 16 accumulators already fill half the register file. Serves neon and
// dotprod (no integer dot here).
#include <arm_neon.h>

#include "common/fp16.hpp"
#include "kernels/f16_gemv.hpp"

namespace bitnet::kernels {
namespace {

// 8 halves -> two float32x4, exactly (every F16 is a float).
inline void load_f16x8(const uint16_t* p, float32x4_t& lo, float32x4_t& hi) {
  const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));
  lo = vcvt_f32_f16(vget_low_f16(h));
  hi = vcvt_high_f32_f16(h);
}

}  // namespace

void f16_gemv_rows_neon(const uint16_t* w, const uint16_t* x, int64_t k, float* y,
                        int64_t row_begin, int64_t row_end) {
  const int64_t main = k / 64 * 64;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint16_t* wr = w + r * k;
    float32x4_t acc[4][4];  // [accumulator][quarter of its 16 lanes]
    for (auto& a : acc) {
      for (auto& q : a) q = vdupq_n_f32(0.0f);
    }
    for (int64_t i = 0; i < main; i += 64) {
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {
        const int64_t e = i + 16 * a;
#pragma GCC unroll 2
        for (int half = 0; half < 2; ++half) {
          float32x4_t w_lo, w_hi, x_lo, x_hi;
          load_f16x8(wr + e + 8 * half, w_lo, w_hi);
          load_f16x8(x + e + 8 * half, x_lo, x_hi);
          acc[a][2 * half] = vfmaq_f32(acc[a][2 * half], w_lo, x_lo);
          acc[a][2 * half + 1] = vfmaq_f32(acc[a][2 * half + 1], w_hi, x_hi);
        }
      }
    }
    float32x4_t lane[4];
    for (int q = 0; q < 4; ++q) {
      lane[q] = vaddq_f32(vaddq_f32(acc[0][q], acc[2][q]), vaddq_f32(acc[1][q], acc[3][q]));
    }
    const float32x4_t h_lo = vaddq_f32(lane[2], lane[0]);  // h[j] = lane[8 + j] + lane[j]
    const float32x4_t h_hi = vaddq_f32(lane[3], lane[1]);
    const float32x4_t g = vaddq_f32(h_hi, h_lo);
    const float32x2_t e = vadd_f32(vget_low_f32(g), vget_high_f32(g));  // {g0 + g2, g1 + g3}
    double sum = static_cast<double>(vget_lane_f32(e, 0) + vget_lane_f32(e, 1));
    for (int64_t i = main; i < k; ++i) {
      sum += static_cast<double>(fp16_to_fp32(wr[i]) * fp16_to_fp32(x[i]));
    }
    y[r] = static_cast<float>(sum);
  }
}

}  // namespace bitnet::kernels
