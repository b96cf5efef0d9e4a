// The kernel sets behind bitlinear(): one per ISA, each a pair (activation quantizer, ternary
// matmul) with exactly the semantics of quantize_acts_ref / ternary_matmul_ref. Internal to
// src/kernels and the tests; the forward pass only calls bitlinear().
#pragma once

#include <cstdint>

#include "kernels/bitlinear.hpp"
#include "kernels/cpu_features.hpp"

namespace bitnet::kernels {

using QuantizeActsFn = void (*)(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                                QuantizedActs& out);
// Rows [row_begin, row_end) of y = W x for every token of a; safe to call concurrently on disjoint
// rows.
using TernaryMatmulFn = void (*)(const TernaryWeights& w, const QuantizedActs& a, float* y,
                                 int64_t row_begin, int64_t row_end);

struct KernelSet {
  Isa isa;
  QuantizeActsFn quantize_acts;
  TernaryMatmulFn matmul;
};

// The kernel set of an ISA (scalar = the oracle). Callers check isa_supported() first.
const KernelSet& kernel_set(Isa isa);

// bitlinear() with a given kernel set (tests and benchmarks compare sets; the forward pass does
// not).
void bitlinear_with(const KernelSet& kernels, const TernaryWeights& w, const float* x,
                    int64_t n_tokens, float* y, QuantizedActs& scratch, int n_threads,
                    SumOrder order = SumOrder::reference);

// Rows per tile of the SIMD matmuls: thread splits are made in multiples of this so every thread
// but the last gets whole tiles.
constexpr int64_t kRowTile = 16;

void quantize_acts_avx2(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                        QuantizedActs& out);
void ternary_matmul_avx2(const TernaryWeights& w, const QuantizedActs& a, float* y,
                         int64_t row_begin, int64_t row_end);
void quantize_acts_avx512(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                          QuantizedActs& out);
void ternary_matmul_avx512(const TernaryWeights& w, const QuantizedActs& a, float* y,
                           int64_t row_begin, int64_t row_end);
// ARM (aarch64 builds): one quantizer for both sets; the matmuls differ in the integer dot (NEON
// widening multiplies, or SDOT).
void quantize_acts_neon(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                        QuantizedActs& out);
void ternary_matmul_neon(const TernaryWeights& w, const QuantizedActs& a, float* y,
                         int64_t row_begin, int64_t row_end);
void ternary_matmul_dotprod(const TernaryWeights& w, const QuantizedActs& a, float* y,
                            int64_t row_begin, int64_t row_end);

// ggml's TQ x Q8_K dot (the oracle, tq_row_dot_ggml) keeps 8 int32 lanes per 256-block; lane p
// subtracts the sum of q over elements 32p..32p+31. out[t][k/32] receives those sums for every
// token of a (Q8K activations). Called by the TQ kernels once per call.
void q8k_sub_block_sums(const QuantizedActs& a, int32_t* out);

// Builds w.packed_* for TQ2_0 or TQ1_0 (the AVX-512 compute layout: TQ2_0's 2-bit codes, see
// TernaryWeights); keeps w.data. x86 builds only.
void repack_tq_2bit(TernaryWeights& w);
// One TQ1_0 block's 256 trits as TQ2_0's 64 code bytes (byte m of half h holds element
// 128h + 32l + m at bits 2l; a TQ1_0 digit is already w + 1). Needs the AVX-512 set.
void tq1_block_to_codes_avx512(const uint8_t* block, uint8_t* codes);

// Shapes the SIMD matmuls handle; others go to the oracle (I2_S rows must start on a 128-value
// block).
inline bool simd_handles(const TernaryWeights& w) {
  return w.type == TensorType::I2_S ? w.k % 128 == 0 : w.k % 256 == 0;
}

}  // namespace bitnet::kernels
