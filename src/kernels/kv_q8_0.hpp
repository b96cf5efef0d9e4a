// The Q8_0 KV cache's two products (llama.cpp's --cache-type-k/-v q8_0): 32-value blocks of an
// fp16 scale and 32 int8s, quantized with ggml's quantize_row_q8_0_ref rule (quant/quantize.hpp).
//
// Scores: the query heads are quantized to Q8_0 too (as ggml's flash attention converts Q to the
// K type's dot type) and each block's product is an exact integer sum, so a K row costs a few
// integer instructions per head instead of a float conversion per value. V rows (stored by
// position, blocks along the dimensions) are accumulated with a probability weight, with the
// accumulators held in registers across positions.
//
// The order of every float operation is defined by the scalar versions, which the SIMD versions
// match bit for bit (no fused multiply-adds). A quantized cache is not the references' F16 cache:
// these are their own numerics.
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
  // Scores of n_pos K rows (row j at k + j * k_stride blocks) with n_q query heads (head h at
  // q + h * n_blocks): out[h * out_stride + j]. Per row and head, 8 lanes l accumulate over the
  // blocks b in order
  //   acc[l] = acc[l] + (d_k[b] * d_q[b]) * s_b[l],  s_b[l] = sum_{i = 4l}^{4l+3} k_b[i] * q_b[i]
  // (s_b exact integers) and are reduced as ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
  void (*scores)(const BlockQ8_0* k, int64_t k_stride, int64_t n_pos, const BlockQ8_0* q,
                 int64_t n_q, int64_t n_blocks, float* out, int64_t out_stride) = nullptr;
  // For n_p weight rows (row h at p + h * p_stride) and dims i < n_dims (a multiple of 32):
  //   out[h * out_stride + i] = out[...] + (p[h][j] * d_j) * v_j[i]   for j = 0 .. n_pos-1 in
  //   order,
  // where V row j is at v + j * v_stride blocks and d_j is the scale of the block holding i.
  void (*values)(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p, int64_t n_p,
                 int64_t p_stride, float* out, int64_t out_stride, int64_t n_dims) = nullptr;
};

void kv_q8_0_scores_ref(const BlockQ8_0* k, int64_t k_stride, int64_t n_pos, const BlockQ8_0* q,
                        int64_t n_q, int64_t n_blocks, float* out, int64_t out_stride);
void kv_q8_0_values_ref(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p,
                        int64_t n_p, int64_t p_stride, float* out, int64_t out_stride,
                        int64_t n_dims);

// The versions written for an ISA (null members where there are none); kv_q8_kernels() is the
// selected set's, falling back to the scalar versions.
KvQ8Kernels kv_q8_kernels_for(Isa isa);
const KvQ8Kernels& kv_q8_kernels();

// Per-ISA entry points (defined in kv_q8_0_<isa>.cpp).
void kv_q8_0_scores_avx2(const BlockQ8_0* k, int64_t k_stride, int64_t n_pos, const BlockQ8_0* q,
                         int64_t n_q, int64_t n_blocks, float* out, int64_t out_stride);
void kv_q8_0_values_avx2(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p,
                         int64_t n_p, int64_t p_stride, float* out, int64_t out_stride,
                         int64_t n_dims);
void kv_q8_0_scores_neon(const BlockQ8_0* k, int64_t k_stride, int64_t n_pos, const BlockQ8_0* q,
                         int64_t n_q, int64_t n_blocks, float* out, int64_t out_stride);
void kv_q8_0_values_neon(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p,
                         int64_t n_p, int64_t p_stride, float* out, int64_t out_stride,
                         int64_t n_dims);

}  // namespace bitnet::kernels
