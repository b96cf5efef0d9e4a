// The small operations of the forward pass (RMSNorm, RoPE, softmax, dot products, activations) as
// plain scalar code. Each mirrors the float operation order of the reference (ggml's CPU backend as
// built for AVX-512 by bitnet.cpp and llama.cpp) where the order changes the result, because the
// models amplify last-bit differences through int8 re-quantization. Faster versions must be checked
// against these.
#pragma once

#include <cstdint>

#include "kernels/cpu_features.hpp"

namespace bitnet::kernels {

// y = (x * (1 / sqrtf(mean(x^2) + eps))) * w. The squares are float, their sum double (as ggml).
void rms_norm_ref(const float* x, const float* w, int64_t n, float eps, float* y);

// ggml's vectorized expf (ggml_v_expf, AVX-512 variant: a polynomial, max error 1.5 ulp), evaluated
// in scalar code with the same fused multiply-adds. Softmax and SiLU use it in the reference.
float ggml_expf(float x);

// SiLU as ggml computes it: x / (1 + expf(-x)).
inline float silu_ref(float x) {
  return x / (1.0f + ggml_expf(-x));
}
// relu(x)^2 as ggml_relu then ggml_sqr.
inline float relu2_ref(float x) {
  const float r = x > 0.0f ? x : 0.0f;
  return r * r;
}

// NeoX RoPE. The table holds cos/sin pairs for one position: cache[2i] = cos(theta_i), cache[2i+1]
// = sin(theta_i), theta_0 = pos * freq_scale, theta_{i+1} = theta_i * powf(base, -2/n_rot) in float
// (ggml's repeated multiplication, not a fresh pow per pair).
void rope_cache_ref(float pos, int64_t n_rot, float freq_base, float freq_scale, float* cache);
// Rotates pairs (i, i + n_rot/2) of one head in place (x0*c - x1*s and x0*s + x1*c, each with the
// first product fused as ggml's compiled code does); dims >= n_rot pass through.
void rope_neox_ref(float* x, int64_t n_rot, const float* cache);
// rope_cache_ref with LLaMA-3 frequency factors (the model's rope_freqs tensor, n_rot/2 values):
// pair i uses theta_i / freq_factors[i], as ggml_rope_cache_init does.
void rope_cache_freq_factors_ref(float pos, int64_t n_rot, float freq_base, float freq_scale,
                                 const float* freq_factors, float* cache);
// Normal (GPT-J style, ggml mode 0) RoPE: rotates adjacent pairs (2i, 2i+1) of one head in place,
// with the same products and contraction as rope_neox_ref. The `llama` architecture uses it (its
// converters permute q/k so that adjacent pairs are HF's rotate_half pairs).
void rope_normal_ref(float* x, int64_t n_rot, const float* cache);

// Softmax of scores[0..n) * scale, in place, as ggml_soft_max_ext: max, exps in 16-lane chunks
// whose float sums (tree order of _mm512_reduce_add_ps) are accumulated in double, then one float
// multiply by (float)(1.0 / sum). Masked positions are simply not part of the n entries.
void softmax_scaled_ref(float* scores, int64_t n, float scale);

// Dot products of an F16 row `w` with float values `x`, in the reference's summation orders:
//  - vecdot: ggml_vec_dot_f16 (AVX-512): 64-value steps in 4x16 float lanes, lanes reduced, the
//  tail
//    (n % 64) summed in double. `x` must hold values exact in F16 (ggml converted them), so every
//    product is exact in float. Used for one-token batches and for QK^T in bitnet.cpp.
//  - lanes16: llamafile tinyBLAS (AVX-512): 16 lanes each accumulating with fused multiply-add over
//    16-value chunks (x may be any float: F16 x F32 kernels), then the lanes reduced. Values past n
//    up to the next multiple of 16 count as 0 (the reference pads with masked positions).
//  - plain: 8 float lanes in a fixed order (the fast mode; not a reference order).
float dot_f16_vecdot(const uint16_t* w, const float* x, int64_t n);
float dot_f16_lanes16(const uint16_t* w, const float* x, int64_t n);
// lanes16 for `x` exact in F16 (the products are exact, so the fma is a plain float add).
float dot_f16_lanes16_exact(const uint16_t* w, const float* x, int64_t n);
float dot_f16_plain(const uint16_t* w, const float* x, int64_t n);
float dot_f32_plain(const float* a, const float* b, int64_t n);

// The scalar definitions of the above (what the SIMD versions are tested against); the functions
// above call the AVX-512 or NEON versions when such a kernel set is selected (BITNET_CPU).
float dot_f16_vecdot_scalar(const uint16_t* w, const float* x, int64_t n);
float dot_f16_lanes16_scalar(const uint16_t* w, const float* x, int64_t n);
float dot_f16_lanes16_exact_scalar(const uint16_t* w, const float* x, int64_t n);
float dot_f16_vecdot_avx512(const uint16_t* w, const float* x, int64_t n);
// With a hardware fma (the reference's): equal to lanes16_scalar barring its rare double roundings.
float dot_f16_lanes16_avx512(const uint16_t* w, const float* x, int64_t n);
// The same lanes as two ymm (avx2 set).
float dot_f16_vecdot_avx2(const uint16_t* w, const float* x, int64_t n);
float dot_f16_lanes16_avx2(const uint16_t* w, const float* x, int64_t n);
// The same lanes over four float32x4 (neon and dotprod sets).
float dot_f16_vecdot_neon(const uint16_t* w, const float* x, int64_t n);
float dot_f16_lanes16_neon(const uint16_t* w, const float* x, int64_t n);

// Up to 16 of those dots with one x: out[i] = dot_f16_<order>(w + i * w_stride, x, n) bit for bit,
// for i < n_rows (attention's scores over 16 K rows, its P.V over 16 V dimensions). The AVX-512
// versions reduce the 16 rows' lanes in one transposing add tree that makes reduce_add16's
// additions, instead of one horizontal reduction per row; elsewhere they loop over the rows.
void dot_f16_vecdot_rows(const uint16_t* w, int64_t w_stride, int n_rows, const float* x, int64_t n,
                         float* out);
void dot_f16_lanes16_rows(const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                          int64_t n, float* out);
void dot_f16_vecdot_rows_avx512(const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                                int64_t n, float* out);
void dot_f16_lanes16_rows_avx512(const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                                 int64_t n, float* out);

// The SIMD versions written for an ISA (avx512, avx2; neon and dotprod share one), null members
// for the others (scalar, the other architecture's): lets tests loop over built_isas(). lanes16
// also serves lanes16_exact.
struct F16DotKernels {
  using RowsFn = void (*)(const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                          int64_t n, float* out);
  float (*vecdot)(const uint16_t* w, const float* x, int64_t n) = nullptr;
  float (*lanes16)(const uint16_t* w, const float* x, int64_t n) = nullptr;
  RowsFn vecdot_rows = nullptr;  // null: one vecdot per row
  RowsFn lanes16_rows = nullptr;
};
F16DotKernels f16_dot_kernels(Isa isa);

// The 16-lane reduction of _mm512_reduce_add_ps (halves added pairwise down to one value).
float reduce_add16(const float* lanes);

}  // namespace bitnet::kernels
