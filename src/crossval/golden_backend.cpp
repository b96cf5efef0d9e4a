// The golden side: logits recorded by a reference implementation (../shared/fixtures/golden*/).
// The JSON names the prompt, its tokens and the logits file; the logits file holds little-endian
// float32 or float16 rows [n_tokens][n_vocab], row i = logits after token i.
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "common/mapped_file.hpp"
#include "crossval/backend.hpp"

namespace bitnet::crossval {
namespace {

static_assert(std::endian::native == std::endian::little, "golden logits are little-endian");

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io, path + ": cannot open golden file");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCategory::model, path + ": not valid JSON: " + e.what());
  }
}

template <typename T>
T field(const nlohmann::json& j, const std::string& path, const char* key) {
  if (!j.contains(key)) throw Error(ErrorCategory::model, path + ": missing key '" + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCategory::model, path + ": key '" + key + "': " + e.what());
  }
}

std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

class GoldenBackend final : public Backend {
 public:
  explicit GoldenBackend(const std::string& json_path) : name_("golden:" + json_path) {
    const nlohmann::json j = read_json(json_path);
    tokens_ = field<std::vector<int32_t>>(j, json_path, "tokens");
    n_vocab_ = field<int32_t>(j, json_path, "n_vocab");
    add_bos_ = j.value("add_bos", true);
    parse_special_ = j.value("parse_special", true);
    const auto dtype = j.value("logits_dtype", std::string("float32"));
    if (dtype != "float32" && dtype != "float16") {
      throw Error(ErrorCategory::model,
                  json_path + ": logits_dtype '" + dtype + "' (expected float32 or float16)");
    }
    if (tokens_.empty() || n_vocab_ <= 0) {
      throw Error(ErrorCategory::model, json_path + ": needs non-empty 'tokens' and 'n_vocab' > 0");
    }
    if (j.contains("greedy") && j["greedy"].contains("tokens")) {
      continuation_ = j["greedy"]["tokens"].get<std::vector<int32_t>>();
    }
    if (j.contains("token_pieces_hex")) {
      const auto hex = j["token_pieces_hex"].get<std::vector<std::string>>();
      for (size_t i = 0; i < hex.size() && i < tokens_.size(); ++i) {
        pieces_.emplace_back(tokens_[i], hex_to_bytes(hex[i]));
      }
    }
    const auto logits_name = field<std::string>(j, json_path, "logits_file");
    const auto logits_path =
        (std::filesystem::path(json_path).parent_path() / logits_name).string();
    load_logits(logits_path, dtype == "float16");
  }

  const std::string& name() const override { return name_; }
  int32_t vocab() const override { return n_vocab_; }

  std::vector<int32_t> tokenize(const std::string& /*text*/, bool /*add_bos*/) override {
    return tokens_;
  }

  TokenizeSettings tokenize_settings(bool /*add_bos*/) const override {
    return {add_bos_, parse_special_, "recorded tokens"};
  }

  void eval_all(std::span<const int32_t> tokens, std::vector<float>& logits) override {
    n_past_ = 0;
    if (tokens.size() > tokens_.size()) {
      throw Error(ErrorCategory::internal, name_ + ": " + std::to_string(tokens.size()) +
                                               " tokens asked, " + std::to_string(tokens_.size()) +
                                               " recorded");
    }
    check_recorded(tokens);
    logits.assign(logits_.begin(),
                  logits_.begin() + static_cast<std::ptrdiff_t>(tokens.size()) * n_vocab_);
    n_past_ = tokens.size();
  }

  bool eval_last(std::span<const int32_t> tokens, std::vector<float>& logits) override {
    const size_t end = n_past_ + tokens.size();
    if (end > tokens_.size()) {
      n_past_ = end;
      return false;
    }
    check_recorded(tokens);
    const auto row = static_cast<std::ptrdiff_t>(end - 1) * n_vocab_;
    logits.assign(logits_.begin() + row, logits_.begin() + row + n_vocab_);
    n_past_ = end;
    return true;
  }

  void reset() override { n_past_ = 0; }

  std::vector<int32_t> recorded_continuation() const override { return continuation_; }

  std::optional<std::string> token_piece(int32_t id) const override {
    for (const auto& [token, piece] : pieces_) {
      if (token == id) return piece;
    }
    return std::nullopt;
  }

 private:
  void load_logits(const std::string& path, bool f16) {
    const MappedFile file = MappedFile::open(path);
    const size_t elem = f16 ? 2 : 4;
    const size_t want = tokens_.size() * static_cast<size_t>(n_vocab_) * elem;
    if (file.bytes().size() != want) {
      throw Error(ErrorCategory::model,
                  path + ": " + std::to_string(file.bytes().size()) + " bytes, expected " +
                      std::to_string(want) + " (" + std::to_string(tokens_.size()) + " tokens x " +
                      std::to_string(n_vocab_) + " x " + (f16 ? "float16" : "float32") + ")");
    }
    logits_.resize(want / elem);
    if (!f16) {
      std::memcpy(logits_.data(), file.bytes().data(), want);
      return;
    }
    for (size_t i = 0; i < logits_.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, file.bytes().data() + 2 * i, 2);
      logits_[i] = fp16_to_fp32(h);
    }
  }

  // The recorded rows are only meaningful for the recorded tokens.
  void check_recorded(std::span<const int32_t> tokens) const {
    for (size_t i = 0; i < tokens.size(); ++i) {
      const size_t at = n_past_ + i;
      if (at < tokens_.size() && tokens_[at] != tokens[i]) {
        throw Error(ErrorCategory::internal, name_ + ": asked for token " +
                                                 std::to_string(tokens[i]) + " at position " +
                                                 std::to_string(at) + " but the file recorded " +
                                                 std::to_string(tokens_[at]));
      }
    }
  }

  std::string name_;
  std::vector<int32_t> tokens_;
  std::vector<int32_t> continuation_;
  std::vector<std::pair<int32_t, std::string>> pieces_;
  std::vector<float> logits_;
  int32_t n_vocab_ = 0;
  bool add_bos_ = true;
  bool parse_special_ = true;
  size_t n_past_ = 0;
};

}  // namespace

std::unique_ptr<Backend> open_golden(const std::string& json_path) {
  try {
    return std::make_unique<GoldenBackend>(json_path);
  } catch (const nlohmann::json::exception& e) {  // a key of the wrong type
    throw Error(ErrorCategory::model, json_path + ": " + e.what());
  } catch (const std::logic_error& e) {  // bad hex in token_pieces_hex
    throw Error(ErrorCategory::model, json_path + ": token_pieces_hex: " + e.what());
  }
}

std::string golden_prompt(const std::string& json_path) {
  return field<std::string>(read_json(json_path), json_path, "prompt");
}

}  // namespace bitnet::crossval
