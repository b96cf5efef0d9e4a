// AVX-512 f16_gemv: 4 rows at a time share the activation loads; per row, the accumulators and the
// reduction of f16_gemv.hpp's order (vcvtph2ps converts exactly, vfmadd231ps rounds once).
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(): a -Wmaybe-uninitialized false
// positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "common/fp16.hpp"
#include "kernels/f16_gemv.hpp"

namespace bitnet::kernels {
namespace {

constexpr int kRows = 4;

inline __m512 load_f16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline float finish(__m512 a0, __m512 a1, __m512 a2, __m512 a3, const uint16_t* w,
                    const uint16_t* x, int64_t main, int64_t k) {
  const __m512 lane = _mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3));
  const __m256 h = _mm256_add_ps(_mm512_extractf32x8_ps(lane, 1), _mm512_castps512_ps256(lane));
  const __m128 g = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
  const __m128 e = _mm_add_ps(g, _mm_movehl_ps(g, g));  // {g0 + g2, g1 + g3}
  double sum = static_cast<double>(_mm_cvtss_f32(e) + _mm_cvtss_f32(_mm_shuffle_ps(e, e, 1)));
  for (int64_t i = main; i < k; ++i) {
    sum += static_cast<double>(fp16_to_fp32(w[i]) * fp16_to_fp32(x[i]));
  }
  return static_cast<float>(sum);
}

}  // namespace

void f16_gemv_rows_avx512(const uint16_t* w, const uint16_t* x, int64_t k, float* y,
                          int64_t row_begin, int64_t row_end) {
  const int64_t main = k / 64 * 64;
  int64_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) {
    __m512 acc[kRows][4];
    for (auto& row : acc) {
      for (auto& v : row) v = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < main; i += 64) {
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {
        const __m512 xv = load_f16(x + i + 16 * a);
#pragma GCC unroll 4
        for (int j = 0; j < kRows; ++j) {
          acc[j][a] = _mm512_fmadd_ps(load_f16(w + (r + j) * k + i + 16 * a), xv, acc[j][a]);
        }
      }
    }
    for (int j = 0; j < kRows; ++j) {
      y[r + j] = finish(acc[j][0], acc[j][1], acc[j][2], acc[j][3], w + (r + j) * k, x, main, k);
    }
  }
  for (; r < row_end; ++r) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    for (int64_t i = 0; i < main; i += 64) {
      for (int a = 0; a < 4; ++a) {
        acc[a] =
            _mm512_fmadd_ps(load_f16(w + r * k + i + 16 * a), load_f16(x + i + 16 * a), acc[a]);
      }
    }
    y[r] = finish(acc[0], acc[1], acc[2], acc[3], w + r * k, x, main, k);
  }
}

}  // namespace bitnet::kernels
