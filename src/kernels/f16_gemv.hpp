// F16 matrix x F16 vector (the output head for one token): y[r] = dot(W[r], x) for n rows of k.
// The activation is passed already rounded to F16; how the forward pass prepares it is its call.
//
// Summation order (the shape of ggml_vec_dot_f16 in ggml's AVX-512 build, which the references use
// on this machine): for every 64 values, lane j (0..15) of accumulator a (0..3) takes
//   acc[a][j] = fma(w[64i + 16a + j], x[64i + 16a + j], acc[a][j])   (float, one rounding);
// then acc[0] += acc[2], acc[1] += acc[3], acc[0] += acc[1] lane-wise; then the 16 lanes are summed
// as h[j] = lane[8 + j] + lane[j] (8), g[j] = h[4 + j] + h[j] (4), e = {g0 + g2, g1 + g3},
// s = e0 + e1; the k % 64 remaining products (float) are added to (double)s in double, in order,
// and the result is rounded to float. Every ISA computes exactly this (bit-identical outputs).
#pragma once

#include <cstdint>

#include "kernels/cpu_features.hpp"

namespace bitnet::kernels {

float f16_dot_ref(const uint16_t* w, const uint16_t* x, int64_t k);
void f16_gemv_ref(const uint16_t* w, const uint16_t* x, int64_t n, int64_t k, float* y);

// The fastest kernel this process selected (BITNET_CPU), rows split statically over n_threads.
void f16_gemv(const uint16_t* w, const uint16_t* x, int64_t n, int64_t k, float* y, int n_threads);

// Per-ISA row ranges [row_begin, row_end) (internal; tests compare them with the oracle).
void f16_gemv_rows_avx2(const uint16_t* w, const uint16_t* x, int64_t k, float* y,
                        int64_t row_begin, int64_t row_end);
void f16_gemv_rows_avx512(const uint16_t* w, const uint16_t* x, int64_t k, float* y,
                          int64_t row_begin, int64_t row_end);
void f16_gemv_rows_neon(const uint16_t* w, const uint16_t* x, int64_t k, float* y,
                        int64_t row_begin, int64_t row_end);

using F16GemvRows = void (*)(const uint16_t* w, const uint16_t* x, int64_t k, float* y,
                             int64_t row_begin, int64_t row_end);
// The rows kernel written for `isa` (avx512: its own, though f16_gemv runs the AVX2 one there;
// dotprod: the NEON one), nullptr for scalar and the other architecture's sets: lets tests loop
// over built_isas().
F16GemvRows f16_gemv_rows_for(Isa isa);

}  // namespace bitnet::kernels
