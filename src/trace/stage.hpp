// The named stages of a forward pass. The forward pass reports each stage's output tensor to an
// optional observer; traces, trace-diff and the reference adapter use the same names.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace bitnet {

enum class Stage {
  embeddings,     // layer -1: token embeddings, [n_tokens][n_embd]
  attn_norm,      // RMSNorm before attention
  q_proj,         // after the Q BitLinear (before RoPE)
  k_proj,         // after the K BitLinear (before RoPE)
  v_proj,         // after the V BitLinear
  attn_out,       // softmax(QK^T)V, heads concatenated, [n_tokens][n_embd]
  attn_sub_norm,  // RMSNorm of attn_out
  o_proj,         // after the output BitLinear
  ffn_norm,       // RMSNorm before the FFN (input: residual after attention)
  ffn_gate,       // after the gate BitLinear
  ffn_up,         // after the up BitLinear
  ffn_act,        // act(gate) * up
  ffn_sub_norm,   // RMSNorm of ffn_act
  ffn_out,        // after the down BitLinear
  layer_out,      // residual stream leaving the layer
  final_norm,     // layer -1: output RMSNorm
  logits,         // layer -1: [n_tokens][n_vocab]
};

std::string_view to_string(Stage stage);
std::optional<Stage> stage_from_string(std::string_view name);

// One stage output: `rows` token positions of `cols` floats, row-major. `first_pos` is the KV
// position of the first row. Valid only during the callback.
struct StageTensor {
  int layer;  // -1 for embeddings, final_norm, logits
  Stage stage;
  int64_t first_pos;
  int64_t rows;
  int64_t cols;
  const float* data;
};

using StageObserver = std::function<void(const StageTensor&)>;

}  // namespace bitnet
