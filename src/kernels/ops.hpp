// The forward pass's small ops (exp, FFN activations, softmax, RMSNorm, RoPE, adds) per ISA, each
// bit-identical to its scalar oracle in ops_ref.hpp, and row-batched forms that split multi-token
// batches over OpenMP threads. The scalar set is the oracle itself; the AVX2 and AVX-512 sets are
// ops_avx2.cpp / ops_avx512.cpp (one algorithm, ops_x86.hpp, over two vector widths); ARM's neon
// and dotprod sets share ops_neon.cpp (the same algorithm over four float32x4).
#pragma once

#include <cstdint>

#include "kernels/cpu_features.hpp"

namespace bitnet::kernels {

struct OpsKernels {
  Isa isa;
  // y[i] = ggml_expf(x[i]); y may be x.
  void (*exp)(const float* x, float* y, int64_t n);
  // gate[i] = silu_ref(gate[i]) * up[i], and the same with relu2_ref.
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  void (*relu2_mul)(float* gate, const float* up, int64_t n);
  // softmax_scaled_ref.
  void (*softmax_scaled)(float* scores, int64_t n, float scale);
  // rms_norm_ref (the double sum of squares keeps its sequential rounding).
  void (*rms_norm)(const float* x, const float* w, int64_t n, float eps, float* y);
  // rms_norm_ref's sum: double(x[i] * x[i]) added in order, in double (tested on its own, as the
  // float mean hides most last-bit differences of the double).
  double (*sum_of_squares)(const float* x, int64_t n);
  // rope_neox_ref on n_heads consecutive heads of head_dim values sharing one cos/sin table.
  void (*rope_neox)(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cache);
  // acc[i] = x[i] + acc[i].
  void (*add)(float* acc, const float* x, int64_t n);
  // y[i] *= s.
  void (*scale)(float* y, int64_t n, float s);
};

// The set of an ISA (scalar = the oracle). Callers check isa_supported() first.
const OpsKernels& ops_kernels(Isa isa);
// The set of selected_isa() (BITNET_CPU), chosen once per process.
const OpsKernels& ops();

const OpsKernels& ops_kernels_avx2();
const OpsKernels& ops_kernels_avx512();
const OpsKernels& ops_kernels_neon();

// Batches of `rows` rows of n values (tokens) with the selected set. Rows are independent, so the
// static split over n_threads changes no bit. Batches under kMinValuesToFork values stay on the
// calling thread: waking the OpenMP team costs ~8 us on this 2-core machine (sleeping threads,
// GOMP_SPINCOUNT=0), about what these ops take on 16-32k values (0.1-0.4 ns a value), so a
// split only pays from ~64k values (25 tokens of 2560, 10 of 6912) on.
inline constexpr int64_t kMinValuesToFork = int64_t{1} << 16;

void rms_norm_rows(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y,
                   int n_threads);
void silu_mul_rows(float* gate, const float* up, int64_t rows, int64_t n, int n_threads);
void relu2_mul_rows(float* gate, const float* up, int64_t rows, int64_t n, int n_threads);
void add_rows(float* acc, const float* x, int64_t rows, int64_t n, int n_threads);
void scale_rows(float* y, int64_t rows, int64_t n, float s, int n_threads);
// Row r holds row_len / head_dim heads and uses the table caches + r * n_rot (rope_cache_ref).
// The same with normal (adjacent-pair) RoPE; scalar (rope_normal_ref) on every ISA.
void rope_normal_rows(float* x, int64_t rows, int64_t row_len, int64_t head_dim, int64_t n_rot,
                      const float* caches, int n_threads);
void rope_neox_rows(float* x, int64_t rows, int64_t row_len, int64_t head_dim, int64_t n_rot,
                    const float* caches, int n_threads);
// One softmax_scaled_ref with the selected set (callers are already inside a parallel loop).
void softmax_scaled(float* scores, int64_t n, float scale);

}  // namespace bitnet::kernels
