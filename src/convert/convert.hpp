// `bitnet convert`: a Hugging Face BitNet checkpoint folder to GGUF, streamed tensor by tensor
// (docs/convert.md). Supported inputs:
//   - BitNetForCausalLM (model_type bitnet, microsoft/bitnet-b1.58-2B-4T): the packed checkpoint
//     (uint8, four codes per byte along the output dimension, weight_scale multiplied) or the bf16
//     master (quantized here with absmean) -> arch bitnet-b1.58;
//   - BitnetForCausalLM (1bitLLM bitnet_b1_58-*, fp16 masters, inner_attn_ln / ffn_layernorm) ->
//     arch bitnet;
//   - LlamaForCausalLM with quantization_config.quant_method "bitnet" (HF1BitLLM, Falcon3 1.58bit,
//     Falcon-E): packed, weight_scale divided unless linear_class is autobitlinear -> arch llama.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "quant/tensor_type.hpp"

namespace bitnet::convert {

struct ConvertOptions {
  std::string hf_dir;
  std::string output;
  TensorType type = TensorType::I2_S;  // BitLinear weights: I2_S, TQ1_0, TQ2_0 or F16
  std::optional<TensorType>
      head_type;                // F16 (default), Q8_0 or Q6_K: the head (token_embd if tied)
  std::string name;             // general.name; default: the folder's name
  bool force_quantize = false;  // allow ternary types for weights not trained ternary
  std::function<void(uint64_t done, uint64_t total)> progress;
  std::function<void(const std::string&)> warn;  // warnings (default: none)
};

struct ConvertSummary {
  std::string checkpoint_class;  // e.g. "BitNetForCausalLM (packed)"
  std::string arch;              // general.architecture written
  std::string pre_tokenizer;     // tokenizer.ggml.pre written
  int64_t n_tensors = 0;
  uint64_t file_bytes = 0;
};

// Converts; throws bitnet::Error naming the file (and tensor) on any bad input. The output is
// written to OUT.tmp and renamed, so a failure leaves no partial file.
ConvertSummary convert_checkpoint(const ConvertOptions& options);

// The pre-tokenizer name (llama.cpp's tokenizer.ggml.pre) of a Hugging Face byte-level BPE
// tokenizer.json, detected from its pre_tokenizer block; throws Error(tokenizer) naming the file
// when the structure is not one we know (supported: llama-bpe, falcon3, falcon_e, falcon, gpt-2).
std::string detect_pre_tokenizer(const std::string& tokenizer_json_text, const std::string& file,
                                 int64_t n_vocab);

// The pieces of a SentencePiece tokenizer.model (protobuf ModelProto): text, score, type (GGUF
// token types equal SentencePiece's: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
// 6 byte). Throws Error(tokenizer) naming the file on malformed input.
struct SpmPiece {
  std::string text;
  float score = 0.0f;
  int32_t type = 1;
};
std::vector<SpmPiece> parse_sentencepiece_model(const std::string& bytes, const std::string& file);

}  // namespace bitnet::convert
