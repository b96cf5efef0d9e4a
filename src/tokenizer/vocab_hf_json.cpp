// Vocabulary from a Hugging Face tokenizer.json (byte-level BPE: model "BPE" with a ByteLevel
// pre-tokenizer, as LLaMA-3 and GPT-2 have).
#include <nlohmann/json.hpp>
#include <string>

#include "bitnet/error.hpp"
#include "tokenizer/vocab.hpp"

namespace bitnet::tokenizer {

namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error(ErrorCategory::tokenizer, name + ": " + what);
}

// The Split regex and whether a ByteLevel step is present, from the pre_tokenizer tree.
struct PreTokenizerInfo {
  std::string split_regex;
  bool byte_level = false;
  bool byte_level_regex = false;
};

void scan_pre_tokenizer(const json& node, PreTokenizerInfo& info, const std::string& name) {
  if (!node.is_object()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const auto& child : node.at("pretokenizers")) scan_pre_tokenizer(child, info, name);
  } else if (type == "Split") {
    const auto& pattern = node.at("pattern");
    if (!pattern.contains("Regex")) fail(name, "pre_tokenizer Split without a Regex pattern");
    if (node.value("behavior", "") != "Isolated" || node.value("invert", false)) {
      fail(name, "pre_tokenizer Split: only behavior Isolated (not inverted) is supported");
    }
    info.split_regex = pattern.at("Regex").get<std::string>();
  } else if (type == "ByteLevel") {
    info.byte_level = true;
    info.byte_level_regex = node.value("use_regex", true);
    if (node.value("add_prefix_space", false)) {
      fail(name, "pre_tokenizer ByteLevel with add_prefix_space is not supported");
    }
  } else {
    fail(name, "pre_tokenizer type '" + type + "' is not supported");
  }
}

TokenId find_named(const Vocab& vocab, std::initializer_list<std::string_view> names) {
  for (auto want : names) {
    for (size_t i = 0; i < vocab.tokens.size(); ++i) {
      if (vocab.types[i] == TokenType::control && vocab.tokens[i] == want) {
        return static_cast<TokenId>(i);
      }
    }
  }
  return kNoToken;
}

}  // namespace

Vocab load_vocab_hf_json(std::string_view json_text, const std::string& name) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(name, std::string("not valid JSON: ") + e.what());
  }
  Vocab vocab;
  vocab.source = name;
  try {
    const auto& model = root.at("model");
    if (model.value("type", "BPE") != "BPE") {
      fail(name, "model type '" + model.value("type", "") + "' is not supported (only BPE)");
    }
    if (model.value("byte_fallback", false)) {
      fail(name, "BPE with byte_fallback (SentencePiece-style) is not supported; use the GGUF");
    }
    PreTokenizerInfo pre;
    if (root.contains("pre_tokenizer")) scan_pre_tokenizer(root.at("pre_tokenizer"), pre, name);
    if (!pre.byte_level) fail(name, "no ByteLevel pre-tokenizer: not a byte-level BPE tokenizer");
    if (pre.split_regex.empty()) {
      if (!pre.byte_level_regex) fail(name, "no split regex in the pre-tokenizer");
      pre.split_regex = kGpt2SplitRegex;
    }
    vocab.kind = VocabKind::byte_bpe;
    vocab.split_regex = pre.split_regex;
    vocab.pre = pre.split_regex == kLlama3SplitRegex ? "llama-bpe" : "gpt2";
    vocab.ignore_merges = model.value("ignore_merges", false);

    // Ids: the model's vocabulary plus the added tokens; holes become unused "[PAD<i>]" tokens
    // as in llama.cpp's converter.
    const auto& model_vocab = model.at("vocab");
    const json empty_array = json::array();
    const auto& added = root.contains("added_tokens") ? root.at("added_tokens") : empty_array;
    int64_t max_id = -1;
    for (const auto& [text, id] : model_vocab.items())
      max_id = std::max<int64_t>(max_id, id.get<int64_t>());
    for (const auto& token : added)
      max_id = std::max<int64_t>(max_id, token.at("id").get<int64_t>());
    if (max_id < 0) fail(name, "empty vocabulary");
    if (max_id >= 0x7FFFFFFF) fail(name, "token id " + std::to_string(max_id) + " too large");
    const size_t n_vocab = static_cast<size_t>(max_id) + 1;
    vocab.tokens.assign(n_vocab, std::string());
    vocab.types.assign(n_vocab, TokenType::undefined);
    for (const auto& [text, id] : model_vocab.items()) {
      const auto i = id.get<int64_t>();
      if (i < 0) fail(name, "negative id for token '" + text + "'");
      vocab.tokens[i] = text;
      vocab.types[i] = TokenType::normal;
    }
    for (const auto& token : added) {
      const auto i = token.at("id").get<int64_t>();
      if (i < 0) fail(name, "negative id in added_tokens");
      vocab.tokens[i] = token.at("content").get<std::string>();
      vocab.types[i] = token.value("special", false) ? TokenType::control : TokenType::user_defined;
    }
    for (size_t i = 0; i < n_vocab; ++i) {
      if (vocab.types[i] == TokenType::undefined) {
        vocab.tokens[i] = "[PAD" + std::to_string(i) + "]";
        vocab.types[i] = TokenType::unused;
      }
    }

    vocab.index.build(vocab.tokens);
    const auto id_of = [&](std::string_view text, size_t rank) {
      const TokenId id = vocab.index.find(text, vocab.tokens);
      if (id == kNoToken) {
        fail(name, "merge " + std::to_string(rank) + " names '" + std::string(text) +
                       "', which is not in the vocabulary");
      }
      return id;
    };
    const auto& merges = model.at("merges");
    vocab.merges.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& merge = merges[rank];
      if (merge.is_string()) {  // "left right"
        const auto& text = merge.get_ref<const std::string&>();
        const size_t space = text.find(' ', 1);
        if (space == std::string::npos)
          fail(name, "merge " + std::to_string(rank) + " has no space");
        vocab.merges.emplace_back(id_of(std::string_view(text).substr(0, space), rank),
                                  id_of(std::string_view(text).substr(space + 1), rank));
      } else if (merge.is_array() && merge.size() == 2) {  // ["left", "right"] (tokenizers >= 0.20)
        vocab.merges.emplace_back(id_of(merge[0].get_ref<const std::string&>(), rank),
                                  id_of(merge[1].get_ref<const std::string&>(), rank));
      } else {
        fail(name, "merge " + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
      }
    }
  } catch (const json::exception& e) {
    fail(name, std::string("unexpected structure: ") + e.what());
  }

  // tokenizer.json does not name BOS/EOS (tokenizer_config.json does); the converter's choice for
  // these vocabularies is the conventional names.
  vocab.special.bos = find_named(vocab, {"<|begin_of_text|>", "<s>", "<|startoftext|>"});
  vocab.special.eos = find_named(vocab, {"<|end_of_text|>", "</s>", "<|endoftext|>"});
  vocab.add_bos = vocab.pre == "llama-bpe" && vocab.special.bos != kNoToken;
  detect_missing_special_ids(vocab);
  return vocab;
}

}  // namespace bitnet::tokenizer
