// The output head in a lower-precision type (opt-in, LoadOptions::head_type): the F16/BF16/F32
// head quantized once at load to Q8_0 or Q6_K, and its matrix x vector product for one hidden
// state. The activation is quantized as llama.cpp does for that weight type (Q8_0 x Q8_0,
// Q6_K x Q8_K), the dot products are exact integer sums per block, then scaled in float.
//
// Numerics (the scalar oracle head_gemv_rows_ref; every ISA gives the same bits):
//  - Q8_0: x is quantized with the Q8_0 reference rule (quantize_row, d rounded to fp16). Per
//    32-value block b: s_b = sum w*a (int32, exact), t_b = (d_w * d_a) * (float)s_b. The blocks of
//    a row are taken 16 at a time (a "group" of 512 values; rows are padded with zero blocks to
//    whole groups): block L of a group is added to float lane L, acc[L] += t_b, over the groups in
//    order. The 16 lanes are then summed as h[j] = acc[j] + acc[8 + j], g[j] = h[j] + h[4 + j],
//    e[j] = g[j] + g[2 + j], y = e[0] + e[1].
//  - Q6_K: x is quantized to Q8_K (ggml's rule: per 256 values d = max / -127 with max the signed
//    value of largest magnitude, q = min(127, round_half_even(x / d))). Per super-block b:
//    s_b = sum over the 16 sub-blocks j of scale_j * sum (q6 - 32) * a (int32, exact),
//    t_b = (d_w * d_a) * (float)s_b, and y = sum of t_b in block order (float, from 0).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/bitlinear.hpp"
#include "kernels/cpu_features.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet::kernels {

// Q8_0 head layout: rows padded to whole groups of 16 blocks (512 values), values interleaved so
// that byte 64*c + 4*L + e of a group holds value 4*c + e of the group's block L (c < 8, L < 16,
// e < 4): one 64-byte vector holds four values of each of the 16 blocks, and each int32 lane of a
// VNNI/madd product sums one block. The block scales (fp16) are a separate array in block order.
inline constexpr int64_t kHeadQ8Group = 512;
inline constexpr int64_t kHeadQ8GroupBlocks = 16;

// The quantized head. Q6_K rows are ggml block_q6_K rows (210 bytes per 256 values) as written by
// quantize_row; Q8_0 rows use the layout above. `storage` owns the bytes unless they are the model
// file's own (a head stored as Q6_K in the file is used in place).
struct QuantizedHead {
  TensorType type = TensorType::Q8_0;   // Q8_0 or Q6_K
  int64_t rows = 0;                     // n_vocab
  int64_t cols = 0;                     // n_embd
  int64_t cols_padded = 0;              // Q8_0: cols rounded up to kHeadQ8Group; Q6_K: cols
  const int8_t* q8 = nullptr;           // Q8_0: [rows][cols_padded] interleaved values
  const uint16_t* q8_scales = nullptr;  // Q8_0: [rows][cols_padded / 32] fp16 block scales
  const uint8_t* q6 = nullptr;          // Q6_K: [rows][q6_row_bytes]
  int64_t q6_row_bytes = 0;
  std::shared_ptr<const uint8_t[]> storage;

  bool empty() const { return rows == 0; }
  int64_t nbytes() const;  // bytes the kernels read per token (the whole matrix)
};

// One hidden state quantized for the head's type (scratch reused between calls).
struct HeadActs {
  int64_t cols = 0;
  // Q8_0: [cols_padded] values in the head's interleaved layout, d_a per block as float
  // ([cols_padded / 32]), and 128 * (sum of each block's values) for the AVX-512 kernel.
  // Q6_K (Q8_K): [cols] values in order, d per 256 values, int16 sums per 16 values.
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> bias;
  std::vector<int16_t> bsums;
  // Scratch of quantize_head_acts: Q8_0 blocks and scales before the layout, the Q8_K rule's
  // output.
  std::vector<uint8_t> blocks;
  std::vector<uint16_t> scales;
  QuantizedActs q8k;
};

// Quantizes (F32, F16, BF16 sources) or re-lays out (a source already in `target`) a dense head of
// `rows` rows of `cols` values, src_row_bytes apart, to target (Q8_0 or Q6_K). Rows are split over
// n_threads; progress(fraction) is called from the calling thread when set. Throws Error(config)
// for an unsupported target or source type, or cols that are not whole blocks of the target.
QuantizedHead quantize_head(TensorType target, TensorType src_type, const uint8_t* src,
                            int64_t src_row_bytes, int64_t rows, int64_t cols, int n_threads,
                            const std::function<void(float)>& progress = {});

// x (w.cols floats) -> acts, with the activation rule of w's type.
void quantize_head_acts(const QuantizedHead& w, const float* x, HeadActs& acts);

// y[r] for r in [row_begin, row_end): the oracle and the per-ISA kernels (tests compare them).
void head_gemv_rows_ref(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
                        int64_t row_end);
void head_gemv_rows_avx2(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
                         int64_t row_end);
void head_gemv_rows_avx512(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
                           int64_t row_end);
void head_gemv_rows_neon(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
                         int64_t row_end);

using HeadGemvRows = void (*)(const QuantizedHead& w, const HeadActs& a, float* y,
                              int64_t row_begin, int64_t row_end);
// The rows kernel of `isa` (neon and dotprod share one), nullptr for scalar and the other
// architecture's sets: lets tests loop over built_isas().
HeadGemvRows head_gemv_rows_for(Isa isa);

// The entry point: quantizes x into scratch and computes all w.rows outputs with the fastest
// kernel this process selected (BITNET_CPU), rows split statically over n_threads.
void head_gemv(const QuantizedHead& w, const float* x, HeadActs& scratch, float* y, int n_threads);

}  // namespace bitnet::kernels
