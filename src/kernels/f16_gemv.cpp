// The scalar oracle of f16_gemv (the summation order documented in f16_gemv.hpp) and the dispatch.
#include "kernels/f16_gemv.hpp"

#include <algorithm>
#include <cmath>

#include "common/fp16.hpp"
#include "kernels/cpu_features.hpp"

namespace bitnet::kernels {

float f16_dot_ref(const uint16_t* w, const uint16_t* x, int64_t k) {
  float acc[4][16] = {};
  const int64_t main = k / 64 * 64;
  for (int64_t i = 0; i < main; i += 64) {
    for (int a = 0; a < 4; ++a) {
      for (int j = 0; j < 16; ++j) {
        const int64_t e = i + 16 * a + j;
        acc[a][j] = std::fma(fp16_to_fp32(w[e]), fp16_to_fp32(x[e]), acc[a][j]);
      }
    }
  }
  float lane[16];
  for (int j = 0; j < 16; ++j) {
    const float a02 = acc[0][j] + acc[2][j];
    const float a13 = acc[1][j] + acc[3][j];
    lane[j] = a02 + a13;
  }
  float h[8], g[4];
  for (int j = 0; j < 8; ++j) h[j] = lane[8 + j] + lane[j];
  for (int j = 0; j < 4; ++j) g[j] = h[4 + j] + h[j];
  const float e0 = g[0] + g[2];
  const float e1 = g[1] + g[3];
  double sum = static_cast<double>(e0 + e1);
  for (int64_t i = main; i < k; ++i) {
    sum += static_cast<double>(fp16_to_fp32(w[i]) * fp16_to_fp32(x[i]));
  }
  return static_cast<float>(sum);
}

void f16_gemv_ref(const uint16_t* w, const uint16_t* x, int64_t n, int64_t k, float* y) {
  for (int64_t r = 0; r < n; ++r) y[r] = f16_dot_ref(w + r * k, x, k);
}

F16GemvRows f16_gemv_rows_for(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (isa == Isa::avx2) return f16_gemv_rows_avx2;
  if (isa == Isa::avx512) return f16_gemv_rows_avx512;
#elif defined(__aarch64__)
  if (isa == Isa::neon || isa == Isa::dotprod) return f16_gemv_rows_neon;
#endif
  (void)isa;
  return nullptr;
}

void f16_gemv(const uint16_t* w, const uint16_t* x, int64_t n, int64_t k, float* y, int n_threads) {
  const Isa isa = selected_isa();
  const int threads = static_cast<int>(std::clamp<int64_t>(n_threads, 1, std::max<int64_t>(n, 1)));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = n * t / threads;
    const int64_t end = n * (t + 1) / threads;
    // The AVX-512 set uses the AVX2 rows too (same bits): on Zen 4 the zmm vcvtph2ps version is
    // the slower one (2b4t head 128256 x 2560, 2 threads: 28-29 ms vs 21-22.5 ms, `kernels_bench
    // --benchmark_filter='F16/.*/head_gemv'` with BITNET_CPU=avx512 / avx2).
#if defined(__x86_64__) || defined(__i386__)
    if (isa == Isa::avx512 || isa == Isa::avx2) {
      f16_gemv_rows_avx2(w, x, k, y, begin, end);
      continue;
    }
#elif defined(__aarch64__)
    if (isa == Isa::neon || isa == Isa::dotprod) {
      f16_gemv_rows_neon(w, x, k, y, begin, end);
      continue;
    }
#endif
    (void)isa;
    for (int64_t r = begin; r < end; ++r) y[r] = f16_dot_ref(w + r * k, x, k);
  }
}

}  // namespace bitnet::kernels
