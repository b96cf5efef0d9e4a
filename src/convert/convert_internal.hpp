// Pieces of the converter shared between its source files (not a public interface).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "gguf/gguf_writer.hpp"

namespace bitnet::convert {

// Reads a JSON file; throws Error(model) naming it when it is missing (if required) or invalid.
// An absent optional file gives an empty object.
nlohmann::json read_json_file(const std::string& path, bool required);

struct TokenizerResult {
  std::string model;  // tokenizer.ggml.model: gpt2 or llama
  std::string pre;    // tokenizer.ggml.pre
  int64_t n_tokens = 0;
};

// Writes the tokenizer.* keys from the folder's tokenizer.json / tokenizer.model,
// tokenizer_config.json (BOS/EOS/add_bos/chat template) and generation_config.json (EOT).
// `n_vocab` is the embedding's row count: the vocabulary is padded to it with [PAD<i>] tokens as
// llama.cpp's converter does, and a larger vocabulary is an error.
TokenizerResult write_hf_tokenizer(gguf::GgufWriter& w, const std::string& dir, int64_t n_vocab,
                                   const std::function<void(const std::string&)>& warn);

}  // namespace bitnet::convert
