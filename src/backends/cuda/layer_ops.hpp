// The element-wise and row-wise operations of a transformer layer on the device, for the CUDA
// layer loop: RMSNorm (squares in float, their sum in double, as kernels::rms_norm_ref), the
// gated activations of the FFN (ReLU² for BitNet b1.58, SiLU for the llama arch), and the residual
// add. Buffers are device pointers; launches go to `stream`. Only in CUDA builds.
#pragma once

#include <cstdint>

struct CUstream_st;
using cudaStream_t = CUstream_st*;

namespace bitnet::cuda {

// y[r] = (x[r] * (1 / sqrtf(mean(x[r]^2) + eps))) * w for `rows` rows of n. The double sum is a
// tree, not kernels::rms_norm_ref's sequence: the rounded mean matches it except in rare last-bit
// cases (the tests bound the difference).
void rms_norm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y,
              cudaStream_t stream);

enum class Gate { relu2, silu };
// gate[i] = act(gate[i]) * up[i] for `count` values (relu2: exactly kernels::relu2_ref's product).
void gated_activation(Gate gate_kind, float* gate, const float* up, int64_t count,
                      cudaStream_t stream);

// residual[i] += delta[i].
void add_in_place(float* residual, const float* delta, int64_t count, cudaStream_t stream);

}  // namespace bitnet::cuda
