#include "kernels/ops_ref.hpp"

#include <cmath>

#include "common/fp16.hpp"
#include "kernels/cpu_features.hpp"

namespace bitnet::kernels {

void rms_norm_ref(const float* x, const float* w, int64_t n, float eps, float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const auto mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  // Two separate float multiplies, as ggml_rms_norm then ggml_mul.
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

float ggml_expf(float x) {
  if (std::isnan(x)) return x;
  // Cody-Waite range reduction x = n*ln2 + b, then a degree-5 polynomial for exp(b); the constants
  // are those of the Arm optimized-routines expf that ggml adapted.
  const float shift = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, shift);
  const float n = z - shift;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                    std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  return std::ldexp(j, static_cast<int>(n));  // _mm512_scalef_ps(j, n)
}

void rope_cache_ref(float pos, int64_t n_rot, float freq_base, float freq_scale, float* cache) {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = pos;
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const float t = freq_scale * theta;
    cache[2 * i] = std::cos(t);
    cache[2 * i + 1] = std::sin(t);
    theta *= theta_scale;
  }
}

void rope_neox_ref(float* x, int64_t n_rot, const float* cache) {
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float c = cache[2 * i];
    const float s = cache[2 * i + 1];
    const float x0 = x[i];
    const float x1 = x[i + half];
    // The references' compilers contract these into one fused multiply-add each (ggml-cpu is
    // built with FMA); the goldens are reproduced bit for bit only with the same contraction.
    x[i] = std::fma(x0, c, -(x1 * s));
    x[i + half] = std::fma(x0, s, x1 * c);
  }
}

void rope_cache_freq_factors_ref(float pos, int64_t n_rot, float freq_base, float freq_scale,
                                 const float* freq_factors, float* cache) {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = pos;
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const float t = freq_scale * (theta / freq_factors[i]);
    cache[2 * i] = std::cos(t);
    cache[2 * i + 1] = std::sin(t);
    theta *= theta_scale;
  }
}

void rope_normal_ref(float* x, int64_t n_rot, const float* cache) {
  for (int64_t i = 0; i < n_rot; i += 2) {
    const float c = cache[i];
    const float s = cache[i + 1];
    const float x0 = x[i];
    const float x1 = x[i + 1];
    x[i] = std::fma(x0, c, -(x1 * s));
    x[i + 1] = std::fma(x0, s, x1 * c);
  }
}

float reduce_add16(const float* lanes) {
  float t8[8];
  for (int i = 0; i < 8; ++i) t8[i] = lanes[i + 8] + lanes[i];
  float t4[4];
  for (int i = 0; i < 4; ++i) t4[i] = t8[i + 4] + t8[i];
  const float t2a = t4[0] + t4[2];
  const float t2b = t4[1] + t4[3];
  return t2a + t2b;
}

void softmax_scaled_ref(float* scores, int64_t n, float scale) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    scores[i] *= scale;
    max = std::fmax(max, scores[i]);
  }
  double sum = 0.0;
  for (int64_t c = 0; c < n; c += 16) {
    float lanes[16] = {};  // positions past n are masked in the reference: exp(-inf) = 0
    for (int64_t l = 0; l < 16 && c + l < n; ++l) {
      lanes[l] = ggml_expf(scores[c + l] - max);
      scores[c + l] = lanes[l];
    }
    sum += static_cast<double>(reduce_add16(lanes));
  }
  const auto inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) scores[i] *= inv;
}

#if defined(__x86_64__) || defined(__i386__)
namespace {
// The selected set's F16 dots, or the scalar definitions (null members) on the scalar set.
const F16DotKernels& selected_f16_dots() {
  static const F16DotKernels k = f16_dot_kernels(selected_isa());
  return k;
}
}  // namespace

float dot_f16_vecdot(const uint16_t* w, const float* x, int64_t n) {
  const F16DotKernels& k = selected_f16_dots();
  return k.vecdot != nullptr ? k.vecdot(w, x, n) : dot_f16_vecdot_scalar(w, x, n);
}
float dot_f16_lanes16(const uint16_t* w, const float* x, int64_t n) {
  const F16DotKernels& k = selected_f16_dots();
  return k.lanes16 != nullptr ? k.lanes16(w, x, n) : dot_f16_lanes16_scalar(w, x, n);
}
float dot_f16_lanes16_exact(const uint16_t* w, const float* x, int64_t n) {
  // Exact products: the fma of the SIMD lanes16 is the plain add of this definition.
  const F16DotKernels& k = selected_f16_dots();
  return k.lanes16 != nullptr ? k.lanes16(w, x, n) : dot_f16_lanes16_exact_scalar(w, x, n);
}
#elif defined(__aarch64__)
namespace {
bool use_neon() {
  static const bool yes = selected_isa() == Isa::neon || selected_isa() == Isa::dotprod;
  return yes;
}
}  // namespace

float dot_f16_vecdot(const uint16_t* w, const float* x, int64_t n) {
  return use_neon() ? dot_f16_vecdot_neon(w, x, n) : dot_f16_vecdot_scalar(w, x, n);
}
float dot_f16_lanes16(const uint16_t* w, const float* x, int64_t n) {
  return use_neon() ? dot_f16_lanes16_neon(w, x, n) : dot_f16_lanes16_scalar(w, x, n);
}
float dot_f16_lanes16_exact(const uint16_t* w, const float* x, int64_t n) {
  // Exact products: the fma of the NEON lanes16 is the plain add of this definition.
  return use_neon() ? dot_f16_lanes16_neon(w, x, n) : dot_f16_lanes16_exact_scalar(w, x, n);
}
#else
float dot_f16_vecdot(const uint16_t* w, const float* x, int64_t n) {
  return dot_f16_vecdot_scalar(w, x, n);
}
float dot_f16_lanes16(const uint16_t* w, const float* x, int64_t n) {
  return dot_f16_lanes16_scalar(w, x, n);
}
float dot_f16_lanes16_exact(const uint16_t* w, const float* x, int64_t n) {
  return dot_f16_lanes16_exact_scalar(w, x, n);
}
#endif

// The selected set's 16-row form where it has one, else one dot per row (the same bits).
void dot_f16_vecdot_rows(const uint16_t* w, int64_t w_stride, int n_rows, const float* x, int64_t n,
                         float* out) {
#if defined(__x86_64__) || defined(__i386__)
  const F16DotKernels& k = selected_f16_dots();
  if (k.vecdot_rows != nullptr) return k.vecdot_rows(w, w_stride, n_rows, x, n, out);
#endif
  for (int i = 0; i < n_rows; ++i) out[i] = dot_f16_vecdot(w + i * w_stride, x, n);
}
void dot_f16_lanes16_rows(const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                          int64_t n, float* out) {
#if defined(__x86_64__) || defined(__i386__)
  const F16DotKernels& k = selected_f16_dots();
  if (k.lanes16_rows != nullptr) return k.lanes16_rows(w, w_stride, n_rows, x, n, out);
#endif
  for (int i = 0; i < n_rows; ++i) out[i] = dot_f16_lanes16(w + i * w_stride, x, n);
}

F16DotKernels f16_dot_kernels(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (isa == Isa::avx512) {
    return {.vecdot = dot_f16_vecdot_avx512,
            .lanes16 = dot_f16_lanes16_avx512,
            .vecdot_rows = dot_f16_vecdot_rows_avx512,
            .lanes16_rows = dot_f16_lanes16_rows_avx512};
  }
  if (isa == Isa::avx2) {
    return {.vecdot = dot_f16_vecdot_avx2, .lanes16 = dot_f16_lanes16_avx2};
  }
#elif defined(__aarch64__)
  if (isa == Isa::neon || isa == Isa::dotprod) {
    return {.vecdot = dot_f16_vecdot_neon, .lanes16 = dot_f16_lanes16_neon};
  }
#endif
  (void)isa;
  return {};
}

float dot_f16_vecdot_scalar(const uint16_t* w, const float* x, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  float acc[4][16] = {};
  for (int64_t i = 0; i < np; i += 64) {
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < 16; ++l) {
        const int64_t k = i + j * 16 + l;
        acc[j][l] += fp16_to_fp32(w[k]) * x[k];  // exact product: same as the fma
      }
    }
  }
  for (int l = 0; l < 16; ++l) {
    acc[0][l] += acc[2][l];
    acc[1][l] += acc[3][l];
  }
  for (int l = 0; l < 16; ++l) acc[0][l] += acc[1][l];
  double sum = reduce_add16(acc[0]);
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(w[i]) * x[i]);
  return static_cast<float>(sum);
}

float dot_f16_lanes16_scalar(const uint16_t* w, const float* x, int64_t n) {
  float acc[16] = {};
  const int64_t full = n & ~int64_t{15};
  // A float fma is round(a*b + c); a*b is exact in double and the double sum is exact unless the
  // magnitudes are 2^29 apart, so this matches the hardware fma (barring rare double roundings)
  // without needing FMA instructions on the baseline target.
  for (int64_t c = 0; c < full; c += 16) {
    for (int l = 0; l < 16; ++l) {
      acc[l] = static_cast<float>(static_cast<double>(fp16_to_fp32(w[c + l])) * x[c + l] + acc[l]);
    }
  }
  for (int64_t i = full; i < n; ++i) {
    const auto l = static_cast<int>(i - full);
    acc[l] = static_cast<float>(static_cast<double>(fp16_to_fp32(w[i])) * x[i] + acc[l]);
  }
  return reduce_add16(acc);
}

float dot_f16_lanes16_exact_scalar(const uint16_t* w, const float* x, int64_t n) {
  float acc[16] = {};
  const int64_t full = n & ~int64_t{15};
  for (int64_t c = 0; c < full; c += 16) {
    for (int l = 0; l < 16; ++l) acc[l] += fp16_to_fp32(w[c + l]) * x[c + l];
  }
  for (int64_t i = full; i < n; ++i) acc[i - full] += fp16_to_fp32(w[i]) * x[i];
  return reduce_add16(acc);
}

float dot_f16_plain(const uint16_t* w, const float* x, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += fp16_to_fp32(w[i + l]) * x[i + l];
  }
  for (; i < n; ++i) acc[0] += fp16_to_fp32(w[i]) * x[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

float dot_f32_plain(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) acc[0] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

}  // namespace bitnet::kernels
