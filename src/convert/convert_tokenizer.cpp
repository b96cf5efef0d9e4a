// The tokenizer half of `bitnet convert`: tokenizer.ggml.* keys from a Hugging Face folder, as
// llama.cpp's and bitnet.cpp's converters write them.
//   - byte-level BPE (tokenizer.json with a ByteLevel pre-tokenizer): model gpt2, tokens, token
//     types (added special tokens are control, other added tokens user-defined), merges "a b",
//     and the pre-tokenizer detected from the pre_tokenizer block;
//   - SentencePiece (tokenizer.model): model llama, pre default, pieces, scores and types as the
//     protobuf holds them.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "bitnet/error.hpp"
#include "convert/convert.hpp"
#include "convert/convert_internal.hpp"
#include "tokenizer/vocab.hpp"

namespace bitnet::convert {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

[[noreturn]] void fail_tok(const std::string& file, const std::string& what) {
  throw Error(ErrorCategory::tokenizer, file + ": " + what);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io, path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void flatten(const json& node, std::vector<const json*>& out) {
  if (!node.is_object()) return;
  if (node.value("type", "") == "Sequence" && node.contains("pretokenizers") &&
      node["pretokenizers"].is_array()) {
    for (const auto& child : node["pretokenizers"]) flatten(child, out);
  } else {
    out.push_back(&node);
  }
}

// Text of a token field in tokenizer_config.json: a string or {"content": ...}.
std::string token_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return {};
}

// ---- protobuf (just what ModelProto.pieces needs)
class ProtoReader {
 public:
  ProtoReader(const std::string& bytes, size_t begin, size_t end, const std::string& file)
      : b_(bytes), pos_(begin), end_(end), file_(file) {}
  bool done() const { return pos_ >= end_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) fail("truncated varint");
      const auto byte = static_cast<uint8_t>(b_[pos_++]);
      v |= uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) return v;
    }
    fail("varint longer than 10 bytes");
  }
  // Returns [begin, end) of a length-delimited field.
  std::pair<size_t, size_t> bytes_field() {
    const uint64_t n = varint();
    if (n > end_ - pos_) fail("field length " + std::to_string(n) + " runs past its message");
    const size_t begin = pos_;
    pos_ += n;
    return {begin, pos_};
  }
  uint32_t fixed32() {
    if (end_ - pos_ < 4) fail("truncated fixed32");
    uint32_t v;
    std::memcpy(&v, b_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0:
        varint();
        return;
      case 1:
        if (end_ - pos_ < 8) fail("truncated fixed64");
        pos_ += 8;
        return;
      case 2:
        bytes_field();
        return;
      case 5:
        fixed32();
        return;
      default:
        fail("unsupported wire type " + std::to_string(wire));
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    fail_tok(file_, "offset " + std::to_string(pos_) + ": malformed SentencePiece model: " + what);
  }

 private:
  const std::string& b_;
  size_t pos_;
  size_t end_;
  const std::string& file_;
};

}  // namespace

std::vector<SpmPiece> parse_sentencepiece_model(const std::string& bytes, const std::string& file) {
  std::vector<SpmPiece> pieces;
  ProtoReader top(bytes, 0, bytes.size(), file);
  while (!top.done()) {
    const uint64_t key = top.varint();
    const auto field = static_cast<uint32_t>(key >> 3);
    const auto wire = static_cast<uint32_t>(key & 7);
    if (field != 1 || wire != 2) {
      top.skip(wire);
      continue;
    }
    const auto [begin, end] = top.bytes_field();
    ProtoReader msg(bytes, begin, end, file);
    SpmPiece p;
    while (!msg.done()) {
      const uint64_t k = msg.varint();
      const auto f = static_cast<uint32_t>(k >> 3);
      const auto w = static_cast<uint32_t>(k & 7);
      if (f == 1 && w == 2) {
        const auto [b, e] = msg.bytes_field();
        p.text = bytes.substr(b, e - b);
      } else if (f == 2 && w == 5) {
        p.score = std::bit_cast<float>(msg.fixed32());
      } else if (f == 3 && w == 0) {
        p.type = static_cast<int32_t>(msg.varint());
      } else {
        msg.skip(w);
      }
    }
    if (p.type < 1 || p.type > 6) {
      fail_tok(file, "piece " + std::to_string(pieces.size()) + " has unknown type " +
                         std::to_string(p.type));
    }
    pieces.push_back(std::move(p));
  }
  if (pieces.empty()) fail_tok(file, "no pieces: not a SentencePiece model");
  return pieces;
}

std::string detect_pre_tokenizer(const std::string& text, const std::string& file,
                                 int64_t n_vocab) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    fail_tok(file, std::string("not valid JSON: ") + e.what());
  }
  std::vector<const json*> parts;
  if (root.contains("pre_tokenizer")) flatten(root["pre_tokenizer"], parts);
  bool byte_level = false;
  bool byte_level_regex = false;
  bool punctuation = false;
  std::optional<bool> individual_digits;
  std::vector<std::string> splits;
  std::vector<std::string> other;
  for (const json* p : parts) {
    const std::string type = p->value("type", "");
    if (type == "ByteLevel") {
      byte_level = true;
      byte_level_regex = p->value("use_regex", true);
    } else if (type == "Split" && p->contains("pattern") && (*p)["pattern"].contains("Regex")) {
      splits.push_back((*p)["pattern"]["Regex"].get<std::string>());
    } else if (type == "Punctuation") {
      punctuation = true;
    } else if (type == "Digits") {
      individual_digits = p->value("individual_digits", false);
    } else {
      other.push_back(type.empty() ? "?" : type);
    }
  }
  const std::string summary =
      root.contains("pre_tokenizer") ? root["pre_tokenizer"].dump() : "null";
  const auto unknown = [&] {
    fail_tok(file, "unknown pre-tokenizer " + summary.substr(0, 300) +
                       " (supported: llama-bpe = Split(LLaMA-3 regex) + ByteLevel; falcon3 / "
                       "falcon_e = Punctuation + ByteLevel + Digits(individual); falcon = "
                       "Punctuation + ByteLevel + Digits + Split([0-9]{3}); gpt-2 = ByteLevel)");
  };
  if (!byte_level || !other.empty()) unknown();
  if (!punctuation && !individual_digits && splits.size() == 1 &&
      splits[0] == tokenizer::kLlama3SplitRegex && !byte_level_regex) {
    return "llama-bpe";
  }
  if (punctuation && byte_level_regex && individual_digits) {
    if (*individual_digits && splits.empty()) {
      // bitnet.cpp gives falcon3 and falcon_e the same regexes; their tokenizers differ in the
      // vocabulary (Falcon-E: 32k tokens, Falcon3: 131k).
      return n_vocab <= 65536 ? "falcon_e" : "falcon3";
    }
    if (!*individual_digits && splits.size() == 1 && splits[0] == "[0-9][0-9][0-9]") {
      return "falcon";
    }
  }
  if (!punctuation && !individual_digits && splits.empty() && byte_level_regex) return "gpt-2";
  unknown();
  return {};
}

nlohmann::json read_json_file(const std::string& path, bool required) {
  if (!fs::exists(path)) {
    if (required) {
      throw Error(ErrorCategory::model,
                  path + ": missing (is this a Hugging Face checkpoint folder?)");
    }
    return json::object();
  }
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw Error(ErrorCategory::model, path + ": not valid JSON: " + e.what());
  }
}

namespace {
TokenizerResult write_hf_tokenizer_impl(gguf::GgufWriter& w, const std::string& dir,
                                        int64_t n_vocab,
                                        const std::function<void(const std::string&)>& warn);
}  // namespace

TokenizerResult write_hf_tokenizer(gguf::GgufWriter& w, const std::string& dir, int64_t n_vocab,
                                   const std::function<void(const std::string&)>& warn) {
  try {
    return write_hf_tokenizer_impl(w, dir, n_vocab, warn);
  } catch (const json::exception& e) {
    fail_tok(dir, std::string("unexpected structure in tokenizer.json / tokenizer_config.json / "
                              "generation_config.json: ") +
                      e.what());
  }
}

namespace {
TokenizerResult write_hf_tokenizer_impl(gguf::GgufWriter& w, const std::string& dir,
                                        int64_t n_vocab,
                                        const std::function<void(const std::string&)>& warn) {
  const std::string tj_path = (fs::path(dir) / "tokenizer.json").string();
  const std::string spm_path = (fs::path(dir) / "tokenizer.model").string();
  const json tcfg = read_json_file((fs::path(dir) / "tokenizer_config.json").string(), false);
  const json gen = read_json_file((fs::path(dir) / "generation_config.json").string(), false);

  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  TokenizerResult result;

  json tj;
  std::string tj_text;
  if (fs::exists(tj_path)) {
    tj_text = read_file(tj_path);
    try {
      tj = json::parse(tj_text);
    } catch (const json::exception& e) {
      fail_tok(tj_path, std::string("not valid JSON: ") + e.what());
    }
  }
  const bool byte_fallback = tj.is_object() && tj.contains("model") && tj["model"].is_object() &&
                             tj["model"].value("byte_fallback", false);
  if (fs::exists(spm_path) && (!tj.is_object() || byte_fallback || !tj.contains("model"))) {
    // SentencePiece: the protobuf is the source of truth (as both peers' converters use it).
    const auto pieces = parse_sentencepiece_model(read_file(spm_path), spm_path);
    for (const auto& p : pieces) {
      tokens.push_back(p.text);
      scores.push_back(p.score);
      types.push_back(p.type);
    }
    // added_tokens beyond the model (tokenizer.json), as llama.cpp adds them.
    if (tj.is_object() && tj.contains("added_tokens")) {
      for (const auto& t : tj["added_tokens"]) {
        const auto id = t.value("id", int64_t{-1});
        if (id < static_cast<int64_t>(tokens.size())) continue;
        if (id >= n_vocab) fail_tok(tj_path, "added token id " + std::to_string(id) + " >= vocab");
        while (static_cast<int64_t>(tokens.size()) < id) {
          tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
          scores.push_back(-1000.0f);
          types.push_back(5);
        }
        tokens.push_back(t.value("content", ""));
        scores.push_back(-1000.0f);
        types.push_back(t.value("special", false) ? 3 : 4);
      }
    }
    result.model = "llama";
    result.pre = "default";
  } else if (tj.is_object() && tj.contains("model")) {
    const json& model = tj["model"];
    if (model.value("type", "") != "BPE") {
      fail_tok(tj_path, "model type '" + model.value("type", "") +
                            "' is not supported (byte-level BPE, or SentencePiece with "
                            "tokenizer.model)");
    }
    if (byte_fallback) {
      fail_tok(tj_path,
               "SentencePiece-style BPE (byte_fallback) needs the tokenizer.model next to it");
    }
    if (!model.contains("vocab") || !model["vocab"].is_object()) {
      fail_tok(tj_path, "model.vocab missing");
    }
    int64_t max_id = -1;
    for (const auto& [text, id] : model["vocab"].items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0)
        fail_tok(tj_path, "token '" + text + "' has a bad id");
      max_id = std::max(max_id, id.get<int64_t>());
    }
    const json added = tj.contains("added_tokens") ? tj["added_tokens"] : json::array();
    for (const auto& t : added) max_id = std::max(max_id, t.value("id", int64_t{-1}));
    if (max_id >= n_vocab) {
      fail_tok(tj_path, "token id " + std::to_string(max_id) + " is past the embedding's " +
                            std::to_string(n_vocab) + " rows");
    }
    tokens.assign(static_cast<size_t>(max_id + 1), {});
    types.assign(tokens.size(), 0);
    for (const auto& [text, id] : model["vocab"].items()) {
      tokens[id.get<size_t>()] = text;
      types[id.get<size_t>()] = 1;
    }
    for (const auto& t : added) {
      const auto id = t.value("id", int64_t{-1});
      if (id < 0) fail_tok(tj_path, "added token without an id");
      tokens[static_cast<size_t>(id)] = t.value("content", "");
      types[static_cast<size_t>(id)] = t.value("special", false) ? 3 : 4;
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (types[i] == 0) {
        tokens[i] = "[PAD" + std::to_string(i) + "]";
        types[i] = 5;
      }
    }
    if (model.contains("merges") && model["merges"].is_array()) {
      for (const auto& m : model["merges"]) {
        if (m.is_string()) {
          merges.push_back(m.get<std::string>());
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
          merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        } else {
          fail_tok(tj_path,
                   "merge " + std::to_string(merges.size()) + " is neither \"a b\" nor [a, b]");
        }
      }
    }
    result.model = "gpt2";
    result.pre = detect_pre_tokenizer(tj_text, tj_path, n_vocab);
  } else {
    fail_tok((fs::path(dir) / "tokenizer.json").string(),
             "missing (and no tokenizer.model): the converter needs the tokenizer");
  }
  const bool spm = result.model == "llama";
  while (static_cast<int64_t>(tokens.size()) < n_vocab) {
    tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
    if (spm) scores.push_back(-1000.0f);
    types.push_back(5);
  }
  if (static_cast<int64_t>(tokens.size()) > n_vocab) {
    fail_tok(spm ? spm_path : tj_path, "the tokenizer has " + std::to_string(tokens.size()) +
                                           " tokens but the embedding only " +
                                           std::to_string(n_vocab) + " rows");
  }
  result.n_tokens = static_cast<int64_t>(tokens.size());

  const auto id_of = [&](const std::string& text) -> int64_t {
    if (text.empty()) return -1;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] == text) return static_cast<int64_t>(i);
    }
    return -1;
  };
  int64_t bos = tcfg.contains("bos_token") ? id_of(token_text(tcfg["bos_token"])) : -1;
  int64_t eos = tcfg.contains("eos_token") ? id_of(token_text(tcfg["eos_token"])) : -1;
  int64_t unk = tcfg.contains("unk_token") ? id_of(token_text(tcfg["unk_token"])) : -1;
  int64_t pad = tcfg.contains("pad_token") ? id_of(token_text(tcfg["pad_token"])) : -1;
  if (spm) {  // the SentencePiece model's own special pieces
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (types[i] == 2 && unk < 0) unk = static_cast<int64_t>(i);
      if (types[i] == 3 && tokens[i] == "<s>" && bos < 0) bos = static_cast<int64_t>(i);
      if (types[i] == 3 && tokens[i] == "</s>" && eos < 0) eos = static_cast<int64_t>(i);
    }
  }
  // EOT: an extra end-of-generation id of generation_config.json (e.g. <|eot_id|>).
  int64_t eot = -1;
  if (gen.contains("eos_token_id") && gen["eos_token_id"].is_array()) {
    for (const auto& id : gen["eos_token_id"]) {
      if (id.is_number_integer() && id.get<int64_t>() != eos && id.get<int64_t>() >= 0 &&
          id.get<int64_t>() < n_vocab && eot < 0) {
        eot = id.get<int64_t>();
      }
    }
  }
  if (bos < 0) warn("no BOS token found in tokenizer_config.json");

  w.add_string("tokenizer.ggml.model", result.model);
  w.add_string("tokenizer.ggml.pre", result.pre);
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  if (spm) w.add_f32_array("tokenizer.ggml.scores", scores);
  w.add_i32_array("tokenizer.ggml.token_type", types);
  if (!spm) w.add_string_array("tokenizer.ggml.merges", merges);
  if (bos >= 0) w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  if (eos >= 0) w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  if (eot >= 0) w.add_u32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(eot));
  if (unk >= 0) w.add_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(unk));
  if (pad >= 0) w.add_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(pad));
  // add_bos: tokenizer_config.json's flag, else true (LLaMA-3's tokenizer.json adds BOS in its
  // post-processor; SentencePiece LLaMA tokenizers add it by default).
  const bool add_bos = tcfg.contains("add_bos_token") && tcfg["add_bos_token"].is_boolean()
                           ? tcfg["add_bos_token"].get<bool>()
                           : bos >= 0;
  const bool add_eos = tcfg.contains("add_eos_token") && tcfg["add_eos_token"].is_boolean()
                           ? tcfg["add_eos_token"].get<bool>()
                           : false;
  w.add_bool("tokenizer.ggml.add_bos_token", add_bos);
  w.add_bool("tokenizer.ggml.add_eos_token", add_eos);
  if (tcfg.contains("chat_template") && tcfg["chat_template"].is_string()) {
    w.add_string("tokenizer.chat_template", tcfg["chat_template"].get<std::string>());
  }
  return result;
}
}  // namespace

}  // namespace bitnet::convert
