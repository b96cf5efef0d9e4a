// The reverse of the GGUF loader: tokenizer.ggml.* metadata for `bitnet synth --tokenizer`.
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "gguf/gguf_writer.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocab.hpp"

namespace bitnet::tokenizer {

void write_tokenizer_metadata(gguf::GgufWriter& writer, const Tokenizer& tokenizer) {
  const Vocab& vocab = tokenizer.vocab();
  if (vocab.kind != VocabKind::byte_bpe) {
    throw Error(ErrorCategory::tokenizer,
                "write_tokenizer_metadata: only byte-level BPE vocabularies are supported");
  }
  writer.add_string("tokenizer.ggml.model", "gpt2");
  writer.add_string("tokenizer.ggml.pre", vocab.pre == "llama-bpe" ? "llama-bpe" : "gpt2");
  writer.add_string_array("tokenizer.ggml.tokens", vocab.tokens);
  std::vector<int32_t> types(vocab.types.size());
  for (size_t i = 0; i < types.size(); ++i) types[i] = static_cast<int32_t>(vocab.types[i]);
  writer.add_i32_array("tokenizer.ggml.token_type", types);
  std::vector<std::string> merges;
  merges.reserve(vocab.merges.size());
  for (const auto& [left, right] : vocab.merges) {
    merges.push_back(vocab.tokens[left] + " " + vocab.tokens[right]);
  }
  writer.add_string_array("tokenizer.ggml.merges", merges);
  const auto& special = vocab.special;
  const auto add_id = [&](const char* key, TokenId id) {
    if (id != kNoToken) writer.add_u32(key, static_cast<uint32_t>(id));
  };
  add_id("tokenizer.ggml.bos_token_id", special.bos);
  add_id("tokenizer.ggml.eos_token_id", special.eos);
  add_id("tokenizer.ggml.padding_token_id", special.pad);
  add_id("tokenizer.ggml.unknown_token_id", special.unk);
  writer.add_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
  writer.add_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);
  if (!vocab.chat_template.empty())
    writer.add_string("tokenizer.chat_template", vocab.chat_template);
}

}  // namespace bitnet::tokenizer
