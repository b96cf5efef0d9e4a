// Deterministic synthetic BitNet models (`bitnet synth`): real shapes and real file layouts without
// a download. BitLinear weights are random ternary values times one fp16-exact scale per tensor, so
// every ternary type (and F16) holds identical values, and the same seed gives the same weights in
// every type. Norm weights are random near 1, the token embedding random near 0 (F16, tied head).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "gguf/gguf.hpp"
#include "gguf/gguf_writer.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet::synth {

struct ModelShape {
  std::string arch;  // general.architecture: "bitnet-b1.58" or "bitnet"
  std::string name;  // general.name
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;  // for the built-in vocabulary; a copied tokenizer brings its own size
  int64_t n_ctx = 4096;
  float rope_freq_base = 500000.0f;
  float rms_eps = 1e-5f;
};

// "tiny" (bitnet-b1.58, n_embd 256, 2 layers, 4/2 heads, n_ff 768, vocab 1024), "2b4t" (the shape
// of Microsoft's BitNet b1.58 2B-4T) and "2b-bitnet" (arch bitnet, the same dims, vocab 32000).
// Throws bitnet::Error (config) for an unknown name.
ModelShape preset(std::string_view name);

// Writes the tokenizer.* metadata of a model and returns the vocabulary size it defines. This is
// the hook for tokenizer sources: the built-in byte-level vocabulary, a copy from another GGUF,
// and (later) a Hugging Face tokenizer.json.
using TokenizerWriter = std::function<int64_t(gguf::GgufWriter&)>;

// A valid `gpt2`-style (byte-level BPE, LLaMA-3 pre-tokenizer) vocabulary of exactly n_vocab
// tokens: the 256 byte tokens, merges of " x" and of lowercase letter pairs, unused fillers, and
// LLaMA-3 style special tokens (<|begin_of_text|>, <|end_of_text|>, <|eot_id|>, ...) at the end.
// n_vocab must be at least 512.
int64_t write_byte_level_vocab(gguf::GgufWriter& writer, int64_t n_vocab);

// Copies every tokenizer.* key of `source` (in its order); returns its token count. Throws
// bitnet::Error (model) when the source has no tokenizer.ggml.tokens.
int64_t copy_tokenizer(const gguf::GgufFile& source, gguf::GgufWriter& writer);

struct SynthOptions {
  ModelShape shape;
  TensorType weight_type = TensorType::I2_S;  // I2_S, TQ1_0, TQ2_0 or F16
  uint64_t seed = 1;
  TokenizerWriter tokenizer;  // empty: the built-in byte-level vocabulary of shape.n_vocab tokens
};

// Writes the model to `path` (atomically: a temporary file, then a rename). Memory use is bounded
// by the writer's chunk size, whatever the model size. Throws bitnet::Error (config) for shapes the
// weight type cannot hold (row lengths must be multiples of 256 for TQ types, 128 for I2_S).
void write_synthetic_model(const SynthOptions& options, const std::string& path,
                           const gguf::GgufWriter::ProgressFn& progress = nullptr);

// The values behind a synthetic tensor, for tests and for anyone regenerating weights in memory.
// The fp16-exact scale of a BitLinear weight with rows of k values.
float bitlinear_scale(uint64_t seed, std::string_view tensor_name, int64_t k);
// Ternary values (-1, 0, +1; zero half of the time) of rows [row_begin, row_begin + n_rows).
void bitlinear_trits(uint64_t seed, std::string_view tensor_name, int64_t k, int64_t row_begin,
                     int64_t n_rows, int8_t* out);

}  // namespace bitnet::synth
