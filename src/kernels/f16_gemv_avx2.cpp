// AVX2 f16_gemv in the AVX-512 order of f16_gemv.hpp: each 16-lane accumulator is a pair of ymm
// (lanes 0-7, 8-15), so every lane sees the same fused multiply-adds and the same reduction.
#include <immintrin.h>

#include "common/fp16.hpp"
#include "kernels/f16_gemv.hpp"

namespace bitnet::kernels {
namespace {

inline __m256 load_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

}  // namespace

void f16_gemv_rows_avx2(const uint16_t* w, const uint16_t* x, int64_t k, float* y,
                        int64_t row_begin, int64_t row_end) {
  const int64_t main = k / 64 * 64;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint16_t* wr = w + r * k;
    __m256 lo[4], hi[4];
    for (int a = 0; a < 4; ++a) lo[a] = hi[a] = _mm256_setzero_ps();
    for (int64_t i = 0; i < main; i += 64) {
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {
        const int64_t e = i + 16 * a;
        lo[a] = _mm256_fmadd_ps(load_f16(wr + e), load_f16(x + e), lo[a]);
        hi[a] = _mm256_fmadd_ps(load_f16(wr + e + 8), load_f16(x + e + 8), hi[a]);
      }
    }
    const __m256 lane_lo = _mm256_add_ps(_mm256_add_ps(lo[0], lo[2]), _mm256_add_ps(lo[1], lo[3]));
    const __m256 lane_hi = _mm256_add_ps(_mm256_add_ps(hi[0], hi[2]), _mm256_add_ps(hi[1], hi[3]));
    const __m256 h = _mm256_add_ps(lane_hi, lane_lo);
    const __m128 g = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
    const __m128 e = _mm_add_ps(g, _mm_movehl_ps(g, g));
    double sum = static_cast<double>(_mm_cvtss_f32(e) + _mm_cvtss_f32(_mm_shuffle_ps(e, e, 1)));
    for (int64_t i = main; i < k; ++i) {
      sum += static_cast<double>(fp16_to_fp32(wr[i]) * fp16_to_fp32(x[i]));
    }
    y[r] = static_cast<float>(sum);
  }
}

}  // namespace bitnet::kernels
