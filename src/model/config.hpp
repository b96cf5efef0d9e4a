// Model hyper-parameters, read from GGUF metadata for the architectures we run:
//   bitnet-b1.58 (Microsoft BitNet b1.58 2B-4T; bitnet.cpp also calls it bitnet-25) and
//   bitnet (upstream llama.cpp, 1bitLLM-style) and
//   llama with ternary BitLinear weights (HF1BitLLM Llama3-8B-1.58, Falcon3 1.58-bit, Falcon-E:
//   plain LLaMA blocks without sub-norms, SiLU, normal RoPE, untied head).
#pragma once

#include <cstdint>
#include <string>

#include "gguf/gguf.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet {

enum class Arch { BitnetB158, Bitnet, Llama };
enum class FfnActivation { Relu2, Silu };
// Normal RoPE rotates pairs (2i, 2i+1); NeoX rotates (i, i + n_rot/2).
enum class RopeType { Normal, Neox };

struct ModelConfig {
  Arch arch = Arch::BitnetB158;
  std::string arch_name;  // as in general.architecture
  std::string name;       // general.name, may be empty
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t n_ctx_train = 0;
  int64_t head_dim = 0;  // n_embd / n_head
  int64_t n_rot = 0;     // rope.dimension_count, default head_dim
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
  RopeType rope_type = RopeType::Neox;
  float rms_eps = 1e-5f;
  FfnActivation ffn_activation = FfnActivation::Relu2;
  TensorType weight_type = TensorType::I2_S;  // type of the BitLinear weights (blk.0.attn_q)
  TensorType embd_type = TensorType::F16;     // token_embd
  bool tied_output = true;                    // the head reuses token_embd
  bool has_sub_norms = true;                  // attn_sub_norm / ffn_sub_norm (not in llama)

  int64_t n_embd_kv() const { return head_dim * n_head_kv; }
  int64_t n_gqa() const { return n_head / n_head_kv; }
};

// Reads and checks the config; throws bitnet::Error (model) naming the file and key when a key is
// missing, of the wrong type, or inconsistent (e.g. heads that do not divide the hidden size).
ModelConfig read_model_config(const gguf::GgufFile& file);

std::string_view to_string(Arch arch);
std::string_view to_string(FfnActivation act);
std::string_view to_string(RopeType rope);

}  // namespace bitnet
