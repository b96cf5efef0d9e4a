// BitLinear building blocks: int8 activation quantization (the rule of each reference) and the
// ternary x int8 matrix product with int32 accumulation. The *_ref functions are the scalar oracle;
// faster kernels (src/kernels/*_avx2.cpp, *_avx512.cpp) must give identical integer sums and
// bit-identical outputs for the same inputs.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "quant/tensor_type.hpp"

namespace bitnet {
class MappedFile;
}

namespace bitnet::kernels {

// How activations are quantized before a ternary matmul. Each weight type mirrors its reference:
//  - PerRowAbsmax (bitnet.cpp, I2_S): one scale per token row over all K inputs,
//    s = (float)(127 / max(max|x| (in double), 1e-5)), q = clamp(round_half_even(x*s), -128, 127).
//  - Q8K (ggml, TQ1_0/TQ2_0): one scale per 256 values, iscale = -127/max (max = the signed value
//  of
//    largest magnitude, first one wins), q = min(127, round_half_even(iscale*x)), d = 1/iscale.
enum class ActQuant { PerRowAbsmax, Q8K };

ActQuant act_quant_for(TensorType weight_type);

// How the TQ1_0/TQ2_0 matmuls combine their 256-block sums into an output (I2_S has one integer sum
// per row, hence one order):
//  - reference: ggml's 8 float lanes per output, one FMA per lane and block, then ggml's hsum: the
//    bits of llama.cpp's TQ vec_dot (the forward pass's reference numerics).
//  - blocks: the block's exact integer sum, one FMA per block: as accurate, 8x fewer float
//    operations, and the GEMM needs no split into lanes (the forward pass's fast numerics).
enum class SumOrder { reference, blocks };

// n_tokens rows of k int8 activations plus their scales. Buffers grow on demand and are reused,
// so steady-state decoding allocates nothing.
struct QuantizedActs {
  ActQuant rule = ActQuant::PerRowAbsmax;
  int64_t k = 0;
  int64_t n_tokens = 0;
  std::vector<int8_t> q;      // [n_tokens][k]
  std::vector<float> scale;   // PerRowAbsmax: [n_tokens] (s); Q8K: [n_tokens][k/256] (d)
  std::vector<int32_t> qsum;  // PerRowAbsmax: [n_tokens] (sum of q over the row)
  std::vector<int32_t> bsum;  // Q8K: [n_tokens][k/256] (sum of q over each block), as ggml's bsums
  // Set by bitlinear() from the caller, read by the TQ matmuls; the quantizers leave it alone.
  SumOrder order = SumOrder::reference;

  const int8_t* row(int64_t t) const { return q.data() + t * k; }
};

void quantize_acts_ref(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                       QuantizedActs& out);

// A ternary weight matrix as stored in the GGUF file: n rows (outputs) of k values (inputs).
struct TernaryWeights {
  TensorType type = TensorType::TQ2_0;
  const uint8_t* data = nullptr;  // the tensor's bytes in the mapping
  int64_t k = 0;                  // ne[0]
  int64_t n = 0;                  // ne[1]
  float tensor_scale = 1.0f;      // I2_S: the per-tensor float32 scale; unused otherwise
  // Set by the loader when `data` lies in a MappedFile: prepare_for_kernels() then drops the pages
  // it repacked (so memory does not double). Leave null for data in ordinary memory.
  const MappedFile* source = nullptr;
  // The compute layout prepare_for_kernels() may build (AVX-512, TQ2_0): per row the 64-byte code
  // parts of the blocks back to back, and the block scales as float in tiles [n/16][k/256][16].
  std::shared_ptr<const uint8_t[]> packed_storage;
  const uint8_t* packed_codes = nullptr;
  const float* packed_scales = nullptr;

  static TernaryWeights from_tensor(TensorType type, const void* data, int64_t k, int64_t n);
};

// y[t][r] for tokens t in [0, a.n_tokens) and output rows r in [row_begin, row_end); y is
// [n_tokens][w.n] row-major. Integer sums are exact; the float rescale follows the reference:
//  - I2_S: y = ((float)sum(code*q) - (float)sum(q)) / s * tensor_scale, code = w + 1.
//  - TQ*:  y = sum over 256-blocks of (float)sumi_b * (d_act_b * d_w_b), accumulated in fp32 in
//    a.order (ggml's 8 lanes, or block by block with one FMA each).
void ternary_matmul_ref(const TernaryWeights& w, const QuantizedActs& a, float* y,
                        int64_t row_begin, int64_t row_end);

// Exact integer dot of one weight row with one activation row, blockwise (for tests and oracles):
// out[b] = sum over block b of w*q, with blocks of 256 (TQ) or one block of k (I2_S).
void ternary_row_dot_blocks_ref(const TernaryWeights& w, int64_t row, const int8_t* q,
                                int32_t* out);

}  // namespace bitnet::kernels

namespace bitnet::kernels {

// The entry point the forward pass uses: quantizes x ([n_tokens][w.k]) with the rule of w's type
// and writes y ([n_tokens][w.n]), splitting rows over n_threads. Picks the fastest kernel this CPU
// has (src/kernels/bitlinear_dispatch.cpp); results are identical to ternary_matmul_ref.
void bitlinear(const TernaryWeights& w, const float* x, int64_t n_tokens, float* y,
               QuantizedActs& scratch, int n_threads, SumOrder order = SumOrder::reference);

// bitlinear() for several matrices that read the same input (Q/K/V, gate/up): one activation
// quantization and one parallel region whose threads split the row tiles of all of them, so a
// token pays one thread wake-up instead of one per matrix. All weights share k and the type.
void bitlinear_group(std::span<const TernaryWeights* const> ws, const float* x, int64_t n_tokens,
                     std::span<float* const> ys, QuantizedActs& scratch, int n_threads,
                     SumOrder order = SumOrder::reference);

// Called once per weight at load: lets the kernels repack weights into their compute layout.
void prepare_for_kernels(TernaryWeights& w);

}  // namespace bitnet::kernels
