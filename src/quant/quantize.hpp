// Float -> Q8_0 / Q6_K quantizers with ggml's reference rules, so that a tensor quantized here has
// the bytes ggml's quantize_row_q8_0_ref / quantize_row_q6_K_ref (no importance matrix) write:
//  - Q8_0 (32-value blocks): d = max|x| / 127 (stored fp16), q = roundf(x * (1/d)) (half away from
//    zero), 0 for an all-zero block.
//  - Q6_K (256-value super-blocks of 16 sub-blocks of 16): each sub-block's scale comes from
//    make_qx_quants(nmax 32, rmse_type 1) (19 candidate scales around -32/max, weighted by x^2);
//    the sub-block scales are quantized to int8 against the largest one (d = max_scale / -128,
//    stored fp16), then q = clamp(round_half_even(x / (d * scale_j)), -32, 31) + 32.
// Float arithmetic is plain IEEE single precision in the reference's order with no fused
// multiply-adds (ggml built without FMA contraction gives the same bytes).
#pragma once

#include <cstdint>

#include "quant/tensor_type.hpp"

namespace bitnet {

// True for the types quantize_row writes (Q8_0, Q6_K).
bool can_quantize_row(TensorType type);

// Quantizes n values (a multiple of the type's block size) into row_nbytes(type, n) bytes at dst.
// Throws Error(config) for another type or when n is not a whole number of blocks.
void quantize_row(TensorType type, const float* src, void* dst, int64_t n);

}  // namespace bitnet
