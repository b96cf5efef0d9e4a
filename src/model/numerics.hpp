// Which float details of the reference a batch mirrors. The references round and sum differently
// depending on the batch size (see docs/architecture.md); these flags are decided once per batch.
#pragma once

#include <cstdint>

#include "kernels/bitlinear.hpp"
#include "model/config.hpp"

namespace bitnet {

// Reference: mirror the reference implementation of the model's weight type exactly, including its
// batch-size-dependent rounding. Fast: every batch size takes the reference's one-token path (its
// F16 roundings and vec_dot orders, which the fast kernels compute) and TQ matmuls sum block by
// block (kernels::SumOrder::blocks: as accurate, fewer float operations): results do not depend
// on how tokens are split into batches, and are not the reference's bits.
enum class Numerics { Reference, Fast };

// Summation order of an F16 dot product: ggml's vec_dot_f16, tinyBLAS's 16 fma lanes, or plain.
enum class DotOrder { Plain, VecDot, Lanes16 };

struct BatchNumerics {
  bool round_q_f16 = false;       // Q rounded to F16 for QK^T (the reference with an F16 cache)
  bool round_probs_f16 = false;   // softmax weights rounded to F16 before P.V
  bool round_hidden_f16 = false;  // final normed hidden state rounded to F16 before an F16 head
  DotOrder kq = DotOrder::Plain;
  DotOrder pv = DotOrder::Plain;
  DotOrder head = DotOrder::Plain;
  kernels::SumOrder ternary = kernels::SumOrder::reference;  // TQ block sums (I2_S has one order)
  // The P.V sum's padded KV view ends at the row's own position (true) or at the batch's last
  // position of the row's sequence (the reference).
  bool pad_per_row = false;
};

// The reference is bitnet.cpp for I2_S weights and upstream llama.cpp for TQ1_0/TQ2_0.
//  bitnet.cpp: a 1-token batch rounds P and the hidden state to F16 and sums with vec_dot_f16;
//    with >= 2 tokens tinyBLAS takes P.V and the head with F32 activations (no rounding).
//    QK^T always uses vec_dot_f16 (its tinyBLAS has no F16 x F16 kernel on x86).
//  llama.cpp: always converts P and the hidden state to F16 (its tinyBLAS on AVX-512 multiplies
//    F16 x F16); with >= 2 tokens tinyBLAS sums QK^T, P.V and the head.
// tinyBLAS declines a product whose inner size is not a multiple of 16; ggml then falls back to
// vec_dot (with the F16 conversion).
// An F16 x F32 dot product in `order`. `x_f16_exact`: x holds values exact in F16 (the reference
// converted them), so products are exact and a cheaper kernel gives the same bits.
float dot_f16(DotOrder order, const uint16_t* w, const float* x, int64_t n, bool x_f16_exact);
// out[i] = dot_f16(order, w + i * w_stride, x, n, x_f16_exact) for i < n_rows <= 16, bit for bit,
// in fewer instructions (one transposing reduction for all rows where the kernel set has it).
void dot_f16_rows(DotOrder order, const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                  int64_t n, bool x_f16_exact, float* out);

BatchNumerics batch_numerics(Numerics mode, const ModelConfig& config, bool f16_kv,
                             int64_t n_tokens);

}  // namespace bitnet
