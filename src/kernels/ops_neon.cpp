// NEON small ops: the algorithm of ops_x86.hpp (which is ISA-neutral C++ over a vector policy) over
// four float32x4 (lanes 0-3, 4-7, 8-11, 12-15 of the AVX-512 layout, so the 16-lane reductions
// take the same tree). One set serves neon and dotprod: nothing here has a dot product.
// x86 semantics NEON lacks are built from compares: max is "a > b ? a : b" (NaN in a gives b, as
// maxps; vmaxq would return the NaN), and exp scales by 2^n from the exponent bits in one or two
// multiplies as ops_avx2.cpp does (scalef's single rounding, subnormal results included).
#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/ops.hpp"
#include "kernels/ops_x86.hpp"

namespace bitnet::kernels {
namespace {

struct Neon {
  struct F {
    float32x4_t v[4];
  };

  // Lanes i < count of quarter q (count may be <= 0 or >= 16).
  static uint32x4_t first(int64_t count, int q) {
    static constexpr int32_t kIndex[4] = {0, 1, 2, 3};
    const int64_t c = count - 4 * q;
    const auto clamped = static_cast<int32_t>(c < 0 ? 0 : (c > 4 ? 4 : c));
    return vcltq_s32(vld1q_s32(kIndex), vdupq_n_s32(clamped));
  }

  template <class Op>
  static F each(F a, F b, Op op) {
    return {{op(a.v[0], b.v[0]), op(a.v[1], b.v[1]), op(a.v[2], b.v[2]), op(a.v[3], b.v[3])}};
  }
  template <class Op>
  static F each(F a, F b, F c, Op op) {
    return {{op(a.v[0], b.v[0], c.v[0]), op(a.v[1], b.v[1], c.v[1]), op(a.v[2], b.v[2], c.v[2]),
             op(a.v[3], b.v[3], c.v[3])}};
  }

  static F set1(float x) {
    const float32x4_t v = vdupq_n_f32(x);
    return {{v, v, v, v}};
  }
  static F zero() { return set1(0.0f); }
  static F load(const float* p) {
    return {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}};
  }
  static void store(float* p, F v) {
    for (int q = 0; q < 4; ++q) vst1q_f32(p + 4 * q, v.v[q]);
  }
  // Through a stack buffer: NEON has no masked loads, and reading past n could fault.
  static F load_partial(const float* p, int64_t count) {
    float buf[16] = {};
    std::memcpy(buf, p, static_cast<size_t>(count) * sizeof(float));
    return load(buf);
  }
  static void store_partial(float* p, F v, int64_t count) {
    float buf[16];
    store(buf, v);
    std::memcpy(p, buf, static_cast<size_t>(count) * sizeof(float));
  }
  static F keep_first(F v, int64_t count, float fill) {
    const float32x4_t f = vdupq_n_f32(fill);
    F out;
    for (int q = 0; q < 4; ++q) out.v[q] = vbslq_f32(first(count, q), v.v[q], f);
    return out;
  }

  static F add(F a, F b) {
    return each(a, b, [](float32x4_t x, float32x4_t y) { return vaddq_f32(x, y); });
  }
  static F sub(F a, F b) {
    return each(a, b, [](float32x4_t x, float32x4_t y) { return vsubq_f32(x, y); });
  }
  static F mul(F a, F b) {
    return each(a, b, [](float32x4_t x, float32x4_t y) { return vmulq_f32(x, y); });
  }
  static F div(F a, F b) {
    return each(a, b, [](float32x4_t x, float32x4_t y) { return vdivq_f32(x, y); });
  }
  static F max(F a, F b) {
    return each(a, b,
                [](float32x4_t x, float32x4_t y) { return vbslq_f32(vcgtq_f32(x, y), x, y); });
  }
  static F neg(F a) {
    return {{vnegq_f32(a.v[0]), vnegq_f32(a.v[1]), vnegq_f32(a.v[2]), vnegq_f32(a.v[3])}};
  }
  static F fmadd(F a, F b, F c) {
    return each(a, b, c,
                [](float32x4_t x, float32x4_t y, float32x4_t z) { return vfmaq_f32(z, x, y); });
  }
  // z - x*y rounded once: the same value as -(x*y) + z, zero signs included.
  static F fnmadd(F a, F b, F c) {
    return each(a, b, c,
                [](float32x4_t x, float32x4_t y, float32x4_t z) { return vfmsq_f32(z, x, y); });
  }
  static F fmsub(F a, F b, F c) {
    return each(a, b, c, [](float32x4_t x, float32x4_t y, float32x4_t z) {
      return vfmaq_f32(vnegq_f32(z), x, y);
    });
  }

  // 2^e for integer e in [-126, 127].
  static float32x4_t exp2_int(int32x4_t e) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(e, vdupq_n_s32(127)), 23));
  }
  static float32x4_t scale_by_exp2(float32x4_t j, float32x4_t n) {
    const int32x4_t e = vcvtq_s32_f32(n);  // n is an integer (or out of range, replaced below)
    // NaN lanes compare false and take the one-multiply path: j is NaN there too.
    const uint32x4_t large = vcagtq_f32(n, vdupq_n_f32(126.0f));
    if (vmaxvq_u32(large) == 0) return vmulq_f32(j, exp2_int(e));
    const int32x4_t e1 = vshrq_n_s32(e, 1);
    const int32x4_t e2 = vsubq_s32(e, e1);
    const float32x4_t scaled = vmulq_f32(vmulq_f32(j, exp2_int(e1)), exp2_int(e2));
    const uint32x4_t out_of_range = vcagtq_f32(n, vdupq_n_f32(192.0f));
    const uint32x4_t non_positive = vcleq_f32(n, vdupq_n_f32(0.0f));
    const float32x4_t limit = vbslq_f32(non_positive, vdupq_n_f32(0.0f), vdupq_n_f32(INFINITY));
    return vbslq_f32(out_of_range, limit, scaled);
  }
  static F scale_by_exp2(F j, F n) {
    return each(j, n, [](float32x4_t x, float32x4_t y) { return scale_by_exp2(x, y); });
  }

  static float reduce_add16(F v) {
    const float32x4_t t8_lo = vaddq_f32(v.v[2], v.v[0]);  // lanes 8+j + j, j < 4
    const float32x4_t t8_hi = vaddq_f32(v.v[3], v.v[1]);  // lanes 12+j + 4+j
    const float32x4_t t4 = vaddq_f32(t8_hi, t8_lo);
    const float32x2_t t2 = vadd_f32(vget_low_f32(t4), vget_high_f32(t4));  // t4[0]+t4[2], [1]+[3]
    return vget_lane_f32(t2, 0) + vget_lane_f32(t2, 1);
  }
  // No NaN reaches it (softmax's max skips them), so vmaxq's NaN rule does not matter.
  static float reduce_max(F v) {
    return vmaxvq_f32(vmaxq_f32(vmaxq_f32(v.v[0], v.v[1]), vmaxq_f32(v.v[2], v.v[3])));
  }
  static double sum_as_double(F v) {
    float64x2_t s = vdupq_n_f64(0.0);
    for (int q = 0; q < 4; ++q) {
      s = vaddq_f64(s, vaddq_f64(vcvt_f64_f32(vget_low_f32(v.v[q])), vcvt_high_f64_f32(v.v[q])));
    }
    return vaddvq_f64(s);
  }
  static float min_nonzero(F v) {
    const float32x4_t inf = vdupq_n_f32(INFINITY);
    float32x4_t m = inf;
    for (int q = 0; q < 4; ++q) m = vminq_f32(m, vbslq_f32(vceqzq_f32(v.v[q]), inf, v.v[q]));
    return vminvq_f32(m);
  }
  static void load_pairs(const float* p, F& even, F& odd) {
    for (int q = 0; q < 4; ++q) {
      const float32x4x2_t pairs = vld2q_f32(p + 8 * q);
      even.v[q] = pairs.val[0];
      odd.v[q] = pairs.val[1];
    }
  }
};

}  // namespace

const OpsKernels& ops_kernels_neon() {
  static const OpsKernels set = x86::make_ops_kernels<Neon>(Isa::neon);
  return set;
}

}  // namespace bitnet::kernels
