// The CPU forward pass: token embedding, the transformer layers (a LayerBackend) and the head.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "kernels/bitlinear.hpp"
#include "kernels/head_gemv.hpp"
#include "model/attention.hpp"
#include "model/backend.hpp"
#include "model/kv_cache.hpp"
#include "model/model.hpp"
#include "trace/stage.hpp"

namespace bitnet {

class CpuForward final : public LayerBackend {
 public:
  // `observer` points at the context's observer (an empty function = tracing off).
  CpuForward(const Model& model, KvCache& kv, int n_threads, const StageObserver* observer);

  // Grows the scratch buffers to hold a batch of n_tokens (no-op when they already do).
  void reserve(int64_t n_tokens);

  // residual[t] = embedding of tokens[t]; the RoPE tables of the batch's positions.
  void embed(std::span<const int32_t> tokens, const LayerBatch& batch);
  void forward_layer(int64_t layer, const LayerBatch& batch) override;
  // Final norm of rows [row_begin, row_end) of the residual and the head: logits rows
  // [n_rows][n_vocab].
  void head(const LayerBatch& batch, int64_t row_begin, int64_t row_end, float* logits);

 private:
  void bitlinear(const BitLinearWeights& w, const float* x, int64_t n_tokens, float* y,
                 kernels::SumOrder order);
  // Several matrices over the same input in one parallel region (see kernels::bitlinear_group).
  void bitlinear_group(std::initializer_list<const BitLinearWeights*> ws, const float* x,
                       int64_t n_tokens, std::initializer_list<float*> ys, kernels::SumOrder order);
  void attention(int64_t layer, const LayerBatch& batch);
  void observe(int layer, Stage stage, const LayerBatch& batch, int64_t cols,
               const float* data) const {
    if (*observer_)
      (*observer_)(StageTensor{layer, stage, batch.first_pos, batch.n_tokens, cols, data});
  }

  const Model& model_;
  const ModelConfig& c_;
  KvCache& kv_;
  int n_threads_;
  const StageObserver* observer_;
  CpuAttention attention_;
  int64_t capacity_ = 0;  // tokens the batch buffers hold

  kernels::QuantizedActs acts_;
  std::vector<float> xn_, q_, k_, v_, attn_, sub_, o_, gate_, up_, ffn_sub_, down_;
  std::vector<float> rope_cache_;  // [tokens][n_rot]
  // Per-thread attention and head buffers.
  std::vector<float> row_;            // [threads][n_embd] dequantized head row
  std::vector<float> hidden_;         // [n_embd] one normed hidden row
  std::vector<uint16_t> hidden_f16_;  // the hidden state as F16 for kernels::f16_gemv

  kernels::HeadActs head_acts_;  // the hidden state quantized for a quantized head (head_type)
};

}  // namespace bitnet
