// AVX-512 versions of the F16 dot products of ops_ref.hpp (attention over the F16 KV cache, the
// batched output head): the same lanes and reduction order, so the same bits. ops_ref.cpp calls
// them when the AVX-512 kernel set is selected.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/ops_ref.hpp"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -W(maybe-)uninitialized
// reports once inlined: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace bitnet::kernels {
namespace {

inline __m512 load_f16(const uint16_t* w) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
}

// reduce_add16's order: halves added pairwise, upper half + lower half.
inline float reduce16(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_extractf32x8_ps(v, 1), _mm512_castps512_ps256(v));
  const __m128 g = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
  const __m128 e = _mm_add_ps(g, _mm_movehl_ps(g, g));  // {g0 + g2, g1 + g3}
  return _mm_cvtss_f32(_mm_add_ss(e, _mm_movehdup_ps(e)));
}

// reduce16 of 16 rows at once: v[i] holds the lanes of row 4 * (i % 4) + i / 4, and lane r of
// the result is row r's reduce16, made of the same additions (halves at distance 8, 4, 2, 1, each
// a + b of the same two values).
inline __m512 reduce16_rows(const __m512* v) {
  __m512 h[8];  // h[p]: rows of v[2p] (low 256 bits) and v[2p + 1], each lane i + lane i + 8
  for (int64_t p = 0; p < 8; ++p) {
    h[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0xEE));
  }
  __m512 g[4];  // g[q]: 4 rows (128-bit lanes), each h_i + h_{i+4}
  for (int64_t q = 0; q < 4; ++q) {
    g[q] = _mm512_add_ps(_mm512_shuffle_f32x4(h[2 * q], h[2 * q + 1], 0x88),
                         _mm512_shuffle_f32x4(h[2 * q], h[2 * q + 1], 0xDD));
  }
  __m512 e[2];  // e[s]: per 128-bit lane 2 rows x {g0 + g2, g1 + g3}
  for (int64_t s = 0; s < 2; ++s) {
    e[s] = _mm512_add_ps(_mm512_shuffle_ps(g[2 * s], g[2 * s + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(g[2 * s], g[2 * s + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  return _mm512_add_ps(_mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// reduce16 of each of n_rows <= 16 rows' lanes (lanes_of(r)), into sums[0..16).
template <typename LanesOf>
inline void reduce_rows(int n_rows, float* sums, LanesOf lanes_of) {
  __m512 v[16];
  for (int i = 0; i < 16; ++i) {
    const int row = 4 * (i % 4) + i / 4;  // the order reduce16_rows takes them in
    v[i] = row < n_rows ? lanes_of(row) : _mm512_setzero_ps();
  }
  _mm512_store_ps(sums, reduce16_rows(v));
}

// The 16 lanes of vec_dot_f16 (its 64-value steps; the tail is added after the reduction). x is
// exact in F16: the products are exact, so fma == add. Unrolled, the 4 accumulators live in
// registers; as a loop GCC kept them on the stack, a store-to-load round trip per step (10x
// slower on long dots).
inline __m512 vecdot_lanes(const uint16_t* w, const float* x, int64_t np) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
  for (int64_t i = 0; i < np; i += 64) {
#pragma GCC unroll 4
    for (int64_t j = 0; j < 4; ++j) {
      acc[j] = _mm512_fmadd_ps(load_f16(w + i + 16 * j), _mm512_loadu_ps(x + i + 16 * j), acc[j]);
    }
  }
  return _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]));
}

// vec_dot_f16's result: the reduced lanes plus the tail (values np..n) summed in double.
inline float vecdot_add_tail(float reduced, const uint16_t* w, const float* x, int64_t np,
                             int64_t n) {
  double sum = reduced;
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(_cvtsh_ss(w[i]) * x[i]);
  return static_cast<float>(sum);
}

// tinyBLAS's 16 fma lanes; the lanes past n keep their value (masked fma).
inline __m512 lanes16_lanes(const uint16_t* w, const float* x, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  const int64_t full = n & ~int64_t{15};
  for (int64_t c = 0; c < full; c += 16) {
    acc = _mm512_fmadd_ps(load_f16(w + c), _mm512_loadu_ps(x + c), acc);
  }
  if (full < n) {
    const auto m = static_cast<__mmask16>((1u << (n - full)) - 1);
    const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, w + full));
    acc = _mm512_mask3_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + full), acc, m);
  }
  return acc;
}

}  // namespace

float dot_f16_vecdot_avx512(const uint16_t* w, const float* x, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  return vecdot_add_tail(reduce16(vecdot_lanes(w, x, np)), w, x, np, n);
}

// tinyBLAS's 16 fma lanes (a real fused multiply-add, as the reference).
float dot_f16_lanes16_avx512(const uint16_t* w, const float* x, int64_t n) {
  return reduce16(lanes16_lanes(w, x, n));
}

void dot_f16_vecdot_rows_avx512(const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                                int64_t n, float* out) {
  const int64_t np = n & ~int64_t{63};
  alignas(64) float sums[16];
  reduce_rows(n_rows, sums, [&](int r) { return vecdot_lanes(w + r * w_stride, x, np); });
  for (int r = 0; r < n_rows; ++r) out[r] = vecdot_add_tail(sums[r], w + r * w_stride, x, np, n);
}

void dot_f16_lanes16_rows_avx512(const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                                 int64_t n, float* out) {
  alignas(64) float sums[16];
  reduce_rows(n_rows, sums, [&](int r) { return lanes16_lanes(w + r * w_stride, x, n); });
  std::copy_n(sums, n_rows, out);
}

}  // namespace bitnet::kernels
