// Views of a model's tensors inside the mapped GGUF file. Nothing is copied: norm weights and the
// embedding point into the mapping, ternary weights are kernels::TernaryWeights over the mapping
// (the kernels may repack them at load, see kernels::prepare_for_kernels).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "gguf/gguf.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels/head_gemv.hpp"
#include "model/config.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet {

// A ternary projection and the optional one-element `<name>.scale` tensor that multiplies its
// output (1 when absent: multiplying by 1 is exact, so there is no branch to mirror).
struct BitLinearWeights {
  kernels::TernaryWeights w;
  float out_scale = 1.0f;
};

struct LayerWeights {
  const float* attn_norm = nullptr;      // [n_embd]
  const float* attn_sub_norm = nullptr;  // [n_embd]; null for llama (no sub-norms)
  const float* ffn_norm = nullptr;       // [n_embd]
  const float* ffn_sub_norm = nullptr;   // [n_ff]; null for llama
  BitLinearWeights wq, wk, wv,
      wo;  // q: n_embd -> n_embd, k/v: n_embd -> n_embd_kv, o: n_embd -> n_embd
  BitLinearWeights gate, up, down;  // gate/up: n_embd -> n_ff, down: n_ff -> n_embd
};

// A dense matrix of `rows` rows of `cols` values in one of the embedding/head types (F32, F16,
// BF16, Q8_0, Q6_K), as stored in the file.
struct DenseMatrix {
  TensorType type = TensorType::F16;
  const uint8_t* data = nullptr;
  int64_t cols = 0;
  int64_t rows = 0;
  int64_t row_bytes = 0;

  const uint8_t* row_data(int64_t r) const { return data + r * row_bytes; }
  void dequantize_row_to(int64_t r, float* out) const;  // cols floats
};

struct ModelWeights {
  DenseMatrix token_embd;  // [n_vocab][n_embd]
  DenseMatrix output;      // the head: token_embd itself when tied
  // The opt-in lower-precision head (empty unless LoadOptions::head_type asked for one); when set,
  // the forward pass uses it instead of `output`.
  kernels::QuantizedHead output_quantized;
  const float* output_norm = nullptr;
  const float* rope_freqs = nullptr;  // [n_rot/2] LLaMA-3 frequency factors, when the file has them
  std::vector<LayerWeights> layers;
};

// Binds every tensor the config's architecture needs; throws Error(model) naming the tensor when
// one is missing or has the wrong type or shape. `progress(fraction)` is called per layer if set.
ModelWeights bind_weights(const gguf::GgufFile& file, const ModelConfig& config,
                          const std::function<void(float)>& progress);

// Quantizes the head (`w.output`) to `type` (Q8_0 or Q6_K) into w.output_quantized, rows in
// parallel over all hardware threads. When the copy is made and `source` (the mapping holding the
// head) is given, the head's file pages are dropped afterwards, so resident memory does not grow
// by the copy; a tied head's embedding rows are paged in again on use. Throws Error(config) for
// another type or a head whose rows are not whole blocks of it.
void quantize_output_head(ModelWeights& w, TensorType type, const MappedFile* source,
                          const std::function<void(float)>& progress);

}  // namespace bitnet
