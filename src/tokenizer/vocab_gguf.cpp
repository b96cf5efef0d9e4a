// Vocabulary from GGUF metadata (tokenizer.ggml.*), as llama.cpp writes and reads it.
#include <array>
#include <string>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"
#include "tokenizer/vocab.hpp"

namespace bitnet::tokenizer {

namespace {

[[noreturn]] void fail(const gguf::GgufFile& file, std::string_view key, const std::string& what) {
  throw Error(ErrorCategory::tokenizer,
              file.path() + ": metadata key '" + std::string(key) + "': " + what);
}

const gguf::Array& array_of(const gguf::GgufFile& file, std::string_view key,
                            gguf::ValueType element_type) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) fail(file, key, "missing");
  if (value->type() != gguf::ValueType::ARRAY) fail(file, key, "not an array");
  const auto& array = value->as_array();
  if (array.element_type != element_type) {
    fail(file, key,
         "array of " + std::string(to_string(array.element_type)) + ", expected " +
             std::string(to_string(element_type)));
  }
  return array;
}

TokenId optional_id(const gguf::GgufFile& file, std::string_view key, size_t n_vocab) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return kNoToken;
  int64_t id = 0;
  try {
    id = value->as_i64();
  } catch (const Error& e) {
    fail(file, key, e.what());
  }
  // llama.cpp writes -1 (as u32 0xFFFFFFFF in some converters) for "none".
  if (id == -1 || id == 0xFFFFFFFFLL) return kNoToken;
  if (id < 0 || static_cast<uint64_t>(id) >= n_vocab) {
    fail(file, key,
         "token id " + std::to_string(id) + " out of range (n_vocab " + std::to_string(n_vocab) +
             ")");
  }
  return static_cast<TokenId>(id);
}

bool optional_bool(const gguf::GgufFile& file, std::string_view key, bool fallback) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return fallback;
  try {
    return value->as_bool();
  } catch (const Error& e) {
    fail(file, key, e.what());
  }
}

void load_merges(const gguf::GgufFile& file, Vocab& vocab) {
  constexpr std::string_view key = "tokenizer.ggml.merges";
  const auto& merges = array_of(file, key, gguf::ValueType::STRING);
  vocab.merges.reserve(merges.strings.size());
  for (size_t rank = 0; rank < merges.strings.size(); ++rank) {
    const std::string_view merge = merges.strings[rank];
    // The first space separates the halves: byte-level tokens never contain a raw space.
    const size_t space = merge.find(' ', 1);
    if (space == std::string_view::npos) {
      fail(file, key,
           "merge " + std::to_string(rank) + " '" + std::string(merge) + "' has no space");
    }
    const TokenId left = vocab.index.find(merge.substr(0, space), vocab.tokens);
    const TokenId right = vocab.index.find(merge.substr(space + 1), vocab.tokens);
    if (left == kNoToken || right == kNoToken) {
      fail(file, key,
           "merge " + std::to_string(rank) + " '" + std::string(merge) +
               "' names a token that is not in the vocabulary");
    }
    vocab.merges.emplace_back(left, right);
  }
}

void set_pre_tokenizer(const gguf::GgufFile& file, Vocab& vocab) {
  const auto pre = file.get_string("tokenizer.ggml.pre").value_or("default");
  vocab.pre = std::string(pre);
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") {
    vocab.split_regex = kLlama3SplitRegex;
    vocab.ignore_merges = true;
    vocab.add_bos = true;
  } else if (pre == "default" || pre == "gpt2" || pre == "gpt-2") {
    vocab.split_regex = kGpt2SplitRegex;
  } else {
    fail(file, "tokenizer.ggml.pre",
         "pre-tokenizer '" + vocab.pre +
             "' is not supported (known: llama-bpe, llama3, gpt2, default)");
  }
}

}  // namespace

Vocab load_vocab_gguf(const gguf::GgufFile& file) {
  Vocab vocab;
  vocab.source = file.path();
  const auto model = file.get_string("tokenizer.ggml.model");
  if (!model) fail(file, "tokenizer.ggml.model", "missing (the file has no tokenizer)");

  const auto& tokens = array_of(file, "tokenizer.ggml.tokens", gguf::ValueType::STRING);
  if (tokens.strings.empty()) fail(file, "tokenizer.ggml.tokens", "empty");
  if (tokens.strings.size() > 0x7FFFFFFF) fail(file, "tokenizer.ggml.tokens", "too many tokens");
  const size_t n_vocab = tokens.strings.size();
  vocab.tokens.assign(tokens.strings.begin(), tokens.strings.end());
  vocab.index.build(vocab.tokens);

  vocab.types.assign(n_vocab, TokenType::normal);
  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    const auto& types = array_of(file, "tokenizer.ggml.token_type", gguf::ValueType::INT32);
    if (types.size != n_vocab) {
      fail(file, "tokenizer.ggml.token_type",
           std::to_string(types.size) + " entries for " + std::to_string(n_vocab) + " tokens");
    }
    for (size_t i = 0; i < n_vocab; ++i) {
      const int32_t t = types.numeric_at<int32_t>(i);
      if (t < 0 || t > static_cast<int32_t>(TokenType::byte)) {
        fail(file, "tokenizer.ggml.token_type",
             "token " + std::to_string(i) + " has unknown type " + std::to_string(t));
      }
      vocab.types[i] = static_cast<TokenType>(t);
    }
  }

  if (*model == "llama") {
    vocab.kind = VocabKind::spm;
    vocab.pre = std::string(file.get_string("tokenizer.ggml.pre").value_or("default"));
    vocab.scores.assign(n_vocab, 0.0f);
    if (file.find("tokenizer.ggml.scores") != nullptr) {
      const auto& scores = array_of(file, "tokenizer.ggml.scores", gguf::ValueType::FLOAT32);
      if (scores.size != n_vocab) {
        fail(file, "tokenizer.ggml.scores",
             std::to_string(scores.size) + " entries for " + std::to_string(n_vocab) + " tokens");
      }
      for (size_t i = 0; i < n_vocab; ++i) vocab.scores[i] = scores.numeric_at<float>(i);
    }
    vocab.add_bos = true;
    vocab.add_space_prefix = true;
    vocab.special.bos = 1 < n_vocab ? 1 : kNoToken;
    vocab.special.eos = 2 < n_vocab ? 2 : kNoToken;
    vocab.special.unk = 0;
  } else if (*model == "gpt2") {
    vocab.kind = VocabKind::byte_bpe;
    set_pre_tokenizer(file, vocab);
    load_merges(file, vocab);
  } else {
    fail(file, "tokenizer.ggml.model",
         "tokenizer model '" + std::string(*model) + "' is not supported (known: gpt2, llama)");
  }

  const auto set_id = [&](std::string_view key, TokenId& id) {
    if (file.find(key) != nullptr) id = optional_id(file, key, n_vocab);
  };
  set_id("tokenizer.ggml.bos_token_id", vocab.special.bos);
  set_id("tokenizer.ggml.eos_token_id", vocab.special.eos);
  set_id("tokenizer.ggml.eot_token_id", vocab.special.eot);
  set_id("tokenizer.ggml.eom_token_id", vocab.special.eom);
  set_id("tokenizer.ggml.padding_token_id", vocab.special.pad);
  set_id("tokenizer.ggml.unknown_token_id", vocab.special.unk);
  vocab.add_bos = optional_bool(file, "tokenizer.ggml.add_bos_token", vocab.add_bos);
  vocab.add_eos = optional_bool(file, "tokenizer.ggml.add_eos_token", vocab.add_eos);
  vocab.add_space_prefix =
      optional_bool(file, "tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);
  if (const auto tmpl = file.find("tokenizer.chat_template")) {
    try {
      vocab.chat_template = std::string(tmpl->as_string());
    } catch (const Error& e) {
      fail(file, "tokenizer.chat_template", e.what());
    }
  }
  detect_missing_special_ids(vocab);
  return vocab;
}

void detect_missing_special_ids(Vocab& vocab) {
  const auto find_any = [&](std::initializer_list<std::string_view> names) {
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
      if (vocab.types[i] != TokenType::control && vocab.types[i] != TokenType::user_defined)
        continue;
      for (auto name : names) {
        if (vocab.tokens[i] == name) return static_cast<TokenId>(i);
      }
    }
    return kNoToken;
  };
  if (vocab.special.eot == kNoToken) {
    vocab.special.eot = find_any({"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<EOT>"});
  }
  if (vocab.special.eom == kNoToken) vocab.special.eom = find_any({"<|eom_id|>"});
}

}  // namespace bitnet::tokenizer
