// The Q8_0 KV cache's two products (llama.cpp's --cache-type-k/-v q8_0): 32-value blocks of an
// fp16 scale and 32 int8s, quantized with ggml's quantize_row_q8_0_ref rule (quant/quantize.hpp).
// K rows are dotted with a query head; V rows (stored by position, blocks along the dimensions)
// are accumulated with a probability weight. The order of every float operation is defined here
// and by the scalar versions, which the SIMD versions match bit for bit (no fused multiply-adds).
// A quantized cache is not the references' F16 cache: these are their own numerics.
#pragma once

#include <cstdint>

#include "kernels/cpu_features.hpp"

namespace bitnet::kernels {

struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is ggml's 34 bytes");

struct KvQ8Kernels {
  // Sum over the n/32 blocks b of k of d_b * s_b, where s_b has 16 lanes
  //   s_b[l] = x[32b + l] * q[l] + x[32b + 16 + l] * q[16 + l]
  // accumulated lane-wise (acc[l] += d_b * s_b[l]) and reduced with reduce_add16.
  float (*dot)(const BlockQ8_0* k, const float* x, int64_t n) = nullptr;
  // acc[i] += (w * d_b) * q[i] for i < n (n a multiple of 32), one product and one add each.
  void (*axpy)(const BlockQ8_0* v, float w, float* acc, int64_t n) = nullptr;
};

float kv_q8_0_dot_ref(const BlockQ8_0* k, const float* x, int64_t n);
void kv_q8_0_axpy_ref(const BlockQ8_0* v, float w, float* acc, int64_t n);

// The versions written for an ISA (null members where there are none); kv_q8_kernels() is the
// selected set's, falling back to the scalar versions.
KvQ8Kernels kv_q8_kernels_for(Isa isa);
const KvQ8Kernels& kv_q8_kernels();

// Per-ISA entry points (defined in kv_q8_0_<isa>.cpp).
float kv_q8_0_dot_avx2(const BlockQ8_0* k, const float* x, int64_t n);
void kv_q8_0_axpy_avx2(const BlockQ8_0* v, float w, float* acc, int64_t n);
float kv_q8_0_dot_avx512(const BlockQ8_0* k, const float* x, int64_t n);
void kv_q8_0_axpy_avx512(const BlockQ8_0* v, float w, float* acc, int64_t n);
float kv_q8_0_dot_neon(const BlockQ8_0* k, const float* x, int64_t n);
void kv_q8_0_axpy_neon(const BlockQ8_0* v, float w, float* acc, int64_t n);

}  // namespace bitnet::kernels
