// The small ops of ops.hpp written once over a 16-lane float vector policy V (ops_avx2.cpp: two
// ymm; ops_avx512.cpp: one zmm; ops_neon.cpp: four float32x4, hence no intrinsics here). Every lane
// performs the scalar oracle's float operations in the oracle's order (ops_ref.cpp), with hardware
// fused multiply-adds where the oracle calls std::fma, so the results are bit-identical to it.
// Included only by the ISA files.
//
// V supplies: F (16 floats), set1, zero, load, store, load_partial / store_partial (the first
// `count` < 16 lanes; loads give 0 elsewhere), keep_first (lanes from `count` on set to a fill
// value), add, sub, mul, div, neg, max (x86 max: the second operand unless the first is greater,
// so NaN in the first gives the second), fmadd (a*b+c), fnmadd (-(a*b)+c), fmsub (a*b-c),
// scale_by_exp2 (see exp below), reduce_add16 (the tree of reduce_add16 in ops_ref), reduce_max,
// sum_as_double (the lanes in double, any order), min_nonzero (the smallest nonzero lane, +inf if
// none) and load_pairs (16 interleaved (even, odd) pairs split into two vectors).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/ops.hpp"

namespace bitnet::kernels::x86 {
namespace {

constexpr int64_t kLanes = 16;

// Whether adding a block's squares (float, >= 0) to the running sum s one at a time in double
// rounds nowhere, so that the sequential sum equals `total`, the block's sum computed in any other
// order and then added to s. With e the exponent of total and u = ulp(2^e): if s and every square
// are multiples of u, each partial sum (in any order) below 2^(e+1) is exact, and the first partial
// sum to reach 2^(e+1) would have pushed the computed total to 2^(e+1) or above (rounding is
// monotone and the addends are >= 0); so all partial sums are exact. The test on the squares is on
// the smallest nonzero one (a float is a multiple of its own ulp); zeros add nothing.
inline bool block_adds_exactly(double s, double total, float min_nonzero_square) {
  if (!(total < INFINITY)) return false;  // inf or NaN: the sequential loop produces the same
  if (total == 0.0) return true;
  const auto total_bits = std::bit_cast<uint64_t>(total);
  const int unit_exp = static_cast<int>(total_bits >> 52) - 1075;  // ulp of total's binade
  if (min_nonzero_square < INFINITY) {
    const auto square_bits = std::bit_cast<uint32_t>(min_nonzero_square);
    const int square_ulp_exp = std::max(static_cast<int>(square_bits >> 23), 1) - 150;
    if (square_ulp_exp < unit_exp) return false;
  }
  if (s != 0.0) {
    const auto s_bits = std::bit_cast<uint64_t>(s);
    const int biased = static_cast<int>(s_bits >> 52);
    const uint64_t significand =
        (s_bits & ((uint64_t{1} << 52) - 1)) | (biased != 0 ? uint64_t{1} << 52 : 0);
    const int lowest_bit_exp = std::max(biased, 1) - 1075 + std::countr_zero(significand);
    if (lowest_bit_exp < unit_exp) return false;
  }
  return true;
}

template <class V>
struct Ops {
  using F = typename V::F;

  // ggml_v_expf (AVX-512 variant), as ggml_expf in ops_ref.cpp: x = n*ln2 + b, exp(b) by a
  // polynomial j, then j * 2^n; 0 or +inf where |n| > 192.
  static F exp(F x) {
    const F shift = V::set1(0x1.8p23f);
    const F z = V::fmadd(x, V::set1(0x1.715476p+0f), shift);
    const F n = V::sub(z, shift);
    const F b = V::fnmadd(n, V::set1(0x1.7f7d1cp-20f), V::fnmadd(n, V::set1(0x1.62e4p-1f), x));
    const F u = V::mul(b, b);
    const F j = V::fmadd(V::fmadd(V::fmadd(V::set1(0x1.0e4020p-7f), b, V::set1(0x1.573e2ep-5f)), u,
                                  V::fmadd(V::set1(0x1.555e66p-3f), b, V::set1(0x1.fffdb6p-2f))),
                         u, V::fmadd(V::set1(0x1.ffffecp-1f), b, V::set1(1.0f)));
    return V::scale_by_exp2(j, n);
  }

  static F silu_mul(F gate, F up) {
    const F denominator = V::add(V::set1(1.0f), exp(V::neg(gate)));
    return V::mul(V::div(gate, denominator), up);
  }

  static F relu2_mul(F gate, F up) {
    const F r = V::max(gate, V::zero());  // gate > 0 ? gate : 0 (NaN and -0 give +0)
    return V::mul(V::mul(r, r), up);
  }

  // y[i] = op(a[i], b[i]) over n values.
  template <class Op>
  static void map2(const float* a, const float* b, float* y, int64_t n, Op op) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) V::store(y + i, op(V::load(a + i), V::load(b + i)));
    if (i < n) {
      const int64_t count = n - i;
      V::store_partial(y + i, op(V::load_partial(a + i, count), V::load_partial(b + i, count)),
                       count);
    }
  }

  static void exp_array(const float* x, float* y, int64_t n) {
    map2(x, x, y, n, [](F v, F) { return exp(v); });
  }
  static void silu_mul_array(float* gate, const float* up, int64_t n) {
    map2(gate, up, gate, n, [](F g, F u) { return silu_mul(g, u); });
  }
  static void relu2_mul_array(float* gate, const float* up, int64_t n) {
    map2(gate, up, gate, n, [](F g, F u) { return relu2_mul(g, u); });
  }
  static void add_array(float* acc, const float* x, int64_t n) {
    map2(x, acc, acc, n, [](F a, F b) { return V::add(a, b); });
  }
  static void scale_array(float* y, int64_t n, float s) {
    const F vs = V::set1(s);
    map2(y, y, y, n, [vs](F v, F) { return V::mul(v, vs); });
  }

  static void softmax_scaled(float* scores, int64_t n, float scale) {
    const F vscale = V::set1(scale);
    F vmax = V::set1(-INFINITY);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      const F v = V::mul(V::load(scores + i), vscale);
      V::store(scores + i, v);
      vmax = V::max(v, vmax);  // fmax: a NaN score leaves the max as it is
    }
    if (i < n) {
      const int64_t count = n - i;
      const F v = V::mul(V::load_partial(scores + i, count), vscale);
      V::store_partial(scores + i, v, count);
      vmax = V::max(V::keep_first(v, count, -INFINITY), vmax);
    }
    // The order of a max does not matter, but for the sign of a zero max, which changes no
    // exp(score - max).
    const F max = V::set1(V::reduce_max(vmax));

    double sum = 0.0;
    for (i = 0; i + kLanes <= n; i += kLanes) {
      const F e = exp(V::sub(V::load(scores + i), max));
      V::store(scores + i, e);
      sum += static_cast<double>(V::reduce_add16(e));
    }
    if (i < n) {
      const int64_t count = n - i;
      const F e = V::keep_first(exp(V::sub(V::load_partial(scores + i, count), max)), count, 0.0f);
      V::store_partial(scores + i, e, count);
      sum += static_cast<double>(V::reduce_add16(e));
    }
    scale_array(scores, n, static_cast<float>(1.0 / sum));
  }

  // The oracle's sum of double(x[i] * x[i]) in order. Blocks whose sequential additions provably
  // round nowhere (block_adds_exactly) are summed as a tree; the others one value at a time.
  static double sum_of_squares(const float* x, int64_t n) {
    double s = 0.0;
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      const F v = V::load(x + i);
      const F squares = V::mul(v, v);
      const double total = s + V::sum_as_double(squares);
      if (block_adds_exactly(s, total, V::min_nonzero(squares))) {
        s = total;
        continue;
      }
      for (int64_t k = i; k < i + kLanes; ++k) s += static_cast<double>(x[k] * x[k]);
    }
    for (; i < n; ++i) s += static_cast<double>(x[i] * x[i]);
    return s;
  }

  static void rms_norm(const float* x, const float* w, int64_t n, float eps, float* y) {
    const auto mean = static_cast<float>(sum_of_squares(x, n) / static_cast<double>(n));
    const F scale = V::set1(1.0f / std::sqrt(mean + eps));
    map2(x, w, y, n, [scale](F xv, F wv) { return V::mul(V::mul(xv, scale), wv); });
  }

  // Pairs (i, i + n_rot/2) of every head: x0*c - x1*s and x0*s + x1*c, the first product fused.
  static void rope_neox(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                        const float* cache) {
    const int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; i += kLanes) {
      const int64_t count = std::min(kLanes, half - i);
      F c, s;
      if (count == kLanes) {
        V::load_pairs(cache + 2 * i, c, s);
      } else {
        float pairs[2 * kLanes] = {};
        std::memcpy(pairs, cache + 2 * i, static_cast<size_t>(2 * count) * sizeof(float));
        V::load_pairs(pairs, c, s);
      }
      for (int64_t h = 0; h < n_heads; ++h) {
        float* p0 = x + h * head_dim + i;
        float* p1 = p0 + half;
        if (count == kLanes) {
          const F x0 = V::load(p0);
          const F x1 = V::load(p1);
          V::store(p0, V::fmsub(x0, c, V::mul(x1, s)));
          V::store(p1, V::fmadd(x0, s, V::mul(x1, c)));
        } else {
          const F x0 = V::load_partial(p0, count);
          const F x1 = V::load_partial(p1, count);
          V::store_partial(p0, V::fmsub(x0, c, V::mul(x1, s)), count);
          V::store_partial(p1, V::fmadd(x0, s, V::mul(x1, c)), count);
        }
      }
    }
  }
};

// The ops table of a policy.
template <class V>
OpsKernels make_ops_kernels(Isa isa) {
  using O = Ops<V>;
  return OpsKernels{.isa = isa,
                    .exp = O::exp_array,
                    .silu_mul = O::silu_mul_array,
                    .relu2_mul = O::relu2_mul_array,
                    .softmax_scaled = O::softmax_scaled,
                    .rms_norm = O::rms_norm,
                    .sum_of_squares = O::sum_of_squares,
                    .rope_neox = O::rope_neox,
                    .add = O::add_array,
                    .scale = O::scale_array};
}

}  // namespace
}  // namespace bitnet::kernels::x86
