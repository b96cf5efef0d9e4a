// `bitnet convert` on bad input: every case of issue 17's acceptance list raises bitnet::Error with
// a message naming the file (and tensor) and what is wrong, and leaves no output file behind.
// The checkpoints are copies of ../shared/fixtures/hf folders in a scratch directory, edited.
#include "convert/convert.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "convert/safetensors.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct RawTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<RawTensor> read_tensors(const fs::path& file) {
  const auto f = convert::SafetensorsFile::open(file.string());
  std::vector<RawTensor> out;
  for (const auto& t : f.tensors()) {
    const auto* p = reinterpret_cast<const uint8_t*>(t.data);
    out.push_back({t.name, std::string(convert::to_string(t.dtype)), t.shape,
                   std::vector<uint8_t>(p, p + t.nbytes)});
  }
  return out;
}

// Writes tensors in order; `edit_header` may change the header JSON before it is written.
void write_tensors(const fs::path& file, const std::vector<RawTensor>& ts,
                   const std::function<void(json&)>& edit_header = nullptr) {
  json h = json::object();
  uint64_t off = 0;
  for (const auto& t : ts) {
    h[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  if (edit_header) edit_header(h);
  const std::string text = h.dump();
  std::ofstream out(file, std::ios::binary);
  const uint64_t n = text.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << text;
  for (const auto& t : ts) {
    out.write(reinterpret_cast<const char*>(t.bytes.data()),
              static_cast<std::streamsize>(t.bytes.size()));
  }
}

class ConvertBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(test::fixtures_dir() / "hf" / "README.md")) GTEST_SKIP() << "no fixtures/hf";
    root_ = test::scratch_dir() / "convert-bad";
    fs::remove_all(root_);
    fs::create_directories(root_);
  }

  // A scratch copy of a fixture folder.
  fs::path copy(const std::string& folder) {
    const fs::path dst = root_ / folder;
    fs::copy(test::fixtures_dir() / "hf" / folder, dst, fs::copy_options::recursive);
    for (const auto& e : fs::directory_iterator(dst)) {
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    }
    return dst;
  }

  // Converts and returns the error message (empty if none); checks no output is left behind.
  std::string convert_error(const fs::path& dir, convert::ConvertOptions o = {}) {
    o.hf_dir = dir.string();
    if (o.output.empty()) o.output = (root_ / "out.gguf").string();
    fs::remove(o.output);
    std::string msg;
    try {
      (void)convert::convert_checkpoint(o);
    } catch (const Error& e) {
      msg = e.what();
    }
    if (!msg.empty()) {
      EXPECT_FALSE(fs::exists(o.output)) << "a failed conversion left " << o.output;
      EXPECT_FALSE(fs::exists(o.output + ".tmp"))
          << "a failed conversion left " << o.output << ".tmp";
    }
    return msg;
  }

  static void expect_has(const std::string& msg, const std::string& part) {
    EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg << "\nexpected: " << part;
  }

  fs::path root_;
};

TEST_F(ConvertBadInput, MissingConfig) {
  const auto dir = copy("llama-ternary-packed");
  fs::remove(dir / "config.json");
  const auto msg = convert_error(dir);
  expect_has(msg, (dir / "config.json").string() + ": missing");
}

TEST_F(ConvertBadInput, UnknownArchitectureListsSupported) {
  const auto dir = copy("llama-ternary-packed");
  std::ofstream(dir / "config.json")
      << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})";
  const auto msg = convert_error(dir);
  expect_has(msg, "config.json: unsupported architecture 'GPT2LMHeadModel' (model_type 'gpt2')");
  expect_has(msg, "Supported: BitNetForCausalLM");
  expect_has(msg, "BitnetForCausalLM");
  expect_has(msg, "LlamaForCausalLM with quantization_config.quant_method 'bitnet'");
}

TEST_F(ConvertBadInput, TensorMissing) {
  const auto dir = copy("llama-ternary-packed");
  auto ts = read_tensors(dir / "model.safetensors");
  std::erase_if(ts,
                [](const RawTensor& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
  write_tensors(dir / "model.safetensors", ts);
  const auto msg = convert_error(dir);
  expect_has(msg,
             "model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight' (GGUF "
             "'blk.1.ffn_up.weight') is missing");
}

TEST_F(ConvertBadInput, WeightScaleMissing) {
  const auto dir = copy("bitnet-b158-packed");
  auto ts = read_tensors(dir / "model.safetensors");
  std::erase_if(ts, [](const RawTensor& t) {
    return t.name == "model.layers.0.self_attn.k_proj.weight_scale";
  });
  write_tensors(dir / "model.safetensors", ts);
  expect_has(convert_error(dir),
             "tensor 'model.layers.0.self_attn.k_proj.weight_scale' is missing "
             "(packed 'model.layers.0.self_attn.k_proj.weight' needs it)");
}

TEST_F(ConvertBadInput, TensorOfWrongShape) {
  const auto dir = copy("llama-ternary-packed");
  auto ts = read_tensors(dir / "model.safetensors");
  for (auto& t : ts) {
    if (t.name == "model.layers.0.self_attn.q_proj.weight") {
      t.shape = {32, 256};
      t.bytes.resize(32 * 256);
    }
  }
  write_tensors(dir / "model.safetensors", ts);
  expect_has(convert_error(dir),
             "tensor 'model.layers.0.self_attn.q_proj.weight' has shape [32, "
             "256], expected [64, 256]");
}

TEST_F(ConvertBadInput, NormOfWrongShape) {
  const auto dir = copy("bitnet-large-style");
  auto ts = read_tensors(dir / "model.safetensors");
  for (auto& t : ts) {
    if (t.name == "model.layers.1.mlp.ffn_layernorm.weight") {
      t.shape = {256};
      t.bytes.resize(256 * 2);
    }
  }
  write_tensors(dir / "model.safetensors", ts);
  expect_has(convert_error(dir),
             "tensor 'model.layers.1.mlp.ffn_layernorm.weight' has shape [256], expected [768]");
}

TEST_F(ConvertBadInput, TruncatedSafetensors) {
  const auto dir = copy("bitnet-b158-bf16");
  const auto file = dir / "model.safetensors";
  fs::resize_file(file, fs::file_size(file) - 1000);
  const auto msg = convert_error(dir);
  expect_has(msg, file.string() + ": offset ");
  expect_has(msg, "runs past the end of the file");
  expect_has(msg, "truncated?");
}

TEST_F(ConvertBadInput, HeaderLengthPastTheEnd) {
  const auto dir = copy("bitnet-b158-bf16");
  const auto file = dir / "model.safetensors";
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t n = uint64_t{1} << 33;
    f.write(reinterpret_cast<const char*>(&n), 8);
  }
  expect_has(convert_error(dir), file.string() +
                                     ": offset 0: header length 8589934592 runs past "
                                     "the end of the file");
}

TEST_F(ConvertBadInput, OverlappingTensorRanges) {
  const auto dir = copy("bitnet-b158-bf16");
  const auto file = dir / "model.safetensors";
  auto ts = read_tensors(file);
  write_tensors(file, ts, [](json& h) {
    h["model.layers.0.post_attention_layernorm.weight"]["data_offsets"] =
        h["model.layers.0.input_layernorm.weight"]["data_offsets"];
  });
  const auto msg = convert_error(dir);
  expect_has(msg, file.string() + ": offset ");
  expect_has(msg, "overlaps tensor 'model.layers.0.input_layernorm.weight'");
}

TEST_F(ConvertBadInput, UnknownDtype) {
  const auto dir = copy("bitnet-b158-bf16");
  const auto file = dir / "model.safetensors";
  auto ts = read_tensors(file);
  write_tensors(file, ts, [](json& h) { h["model.norm.weight"]["dtype"] = "Q4"; });
  expect_has(convert_error(dir),
             file.string() + ": offset 8: tensor 'model.norm.weight': unknown dtype 'Q4'");
}

TEST_F(ConvertBadInput, UnsupportedDtypeForAWeight) {
  const auto dir = copy("llama-ternary-packed");
  const auto file = dir / "model.safetensors";
  auto ts = read_tensors(file);
  for (auto& t : ts) {
    if (t.name == "model.norm.weight") t.dtype = "U8", t.shape = {512};
  }
  write_tensors(file, ts);
  expect_has(convert_error(dir),
             "tensor 'model.norm.weight' has dtype U8, expected BF16, F16 or F32");
}

TEST_F(ConvertBadInput, PackedCodeThree) {
  const auto dir = copy("llama-ternary-packed");
  const auto file = dir / "model.safetensors";
  auto ts = read_tensors(file);
  for (auto& t : ts) {
    if (t.name == "model.layers.1.mlp.down_proj.weight")
      t.bytes[100] = 0xC0 | (t.bytes[100] & 0x3F);
  }
  write_tensors(file, ts);
  const auto msg = convert_error(dir);
  expect_has(msg, file.string() + ": offset ");
  expect_has(msg, "tensor 'model.layers.1.mlp.down_proj.weight' byte 100");
  expect_has(msg, "holds code 3 at bits 6..7; packed ternary codes are 0, 1, 2 (-1, 0, +1)");
}

TEST_F(ConvertBadInput, TokenizerWithoutKnownPreTokenizer) {
  const auto dir = copy("bitnet-b158-bf16");
  std::ifstream in(dir / "tokenizer.json");
  std::stringstream ss;
  ss << in.rdbuf();
  in.close();
  json tj = json::parse(ss.str());
  tj["pre_tokenizer"] = {{"type", "Sequence"},
                         {"pretokenizers", {{{"type", "Whitespace"}}, {{"type", "ByteLevel"}}}}};
  std::ofstream(dir / "tokenizer.json") << tj.dump();
  const auto msg = convert_error(dir);
  expect_has(msg, (dir / "tokenizer.json").string() + ": unknown pre-tokenizer");
  expect_has(msg, "Whitespace");
  expect_has(msg, "supported: llama-bpe");
}

TEST_F(ConvertBadInput, OutputInMissingDirectory) {
  const auto dir = copy("llama-ternary-packed");
  convert::ConvertOptions o;
  o.output = (root_ / "no-such-dir" / "out.gguf").string();
  const auto msg = convert_error(dir, o);
  expect_has(msg, o.output + ": the output directory " + (root_ / "no-such-dir").string() +
                      " does not exist");
}

TEST_F(ConvertBadInput, PlainLlamaNeedsForceQuantize) {
  const auto dir = copy("llama-ternary-packed");
  // The same weights as bf16 masters, and no quantization_config: a model not trained ternary.
  auto ts = read_tensors(dir / "model.safetensors");
  std::vector<RawTensor> masters;
  for (const auto& t : ts) {
    if (t.name.ends_with(".weight_scale")) continue;
    if (t.dtype == "U8") {
      RawTensor m{t.name, "BF16", {t.shape[0] * 4, t.shape[1]}, {}};
      m.bytes.assign(static_cast<size_t>(t.shape[0] * 4 * t.shape[1] * 2), 0);
      for (size_t i = 0; i < m.bytes.size(); i += 4) m.bytes[i + 1] = 0x3F;  // 1.0 and 0.0
      masters.push_back(std::move(m));
    } else {
      masters.push_back(t);
    }
  }
  write_tensors(dir / "model.safetensors", masters);
  json cfg = json::parse(std::ifstream(dir / "config.json"));
  cfg.erase("quantization_config");
  std::ofstream(dir / "config.json") << cfg.dump();
  const auto msg = convert_error(dir);
  expect_has(msg, "was not trained for ternary weights");
  expect_has(msg, "Pass --force-quantize");

  convert::ConvertOptions o;
  o.force_quantize = true;
  std::string warning;
  o.warn = [&](const std::string& w) { warning += w; };
  EXPECT_EQ(convert_error(dir, o), "");
  expect_has(warning, "not trained for ternary weights");
  EXPECT_TRUE(fs::exists(root_ / "out.gguf"));
}

TEST_F(ConvertBadInput, JsonValuesOfTheWrongType) {
  const auto dir = copy("llama-ternary-packed");
  json cfg = json::parse(std::ifstream(dir / "config.json"));
  cfg["tie_word_embeddings"] = "no";
  std::ofstream(dir / "config.json") << cfg.dump();
  expect_has(convert_error(dir), ": unexpected value in a JSON file: ");

  const auto dir2 = copy("bitnet-b158-bf16");
  std::ifstream in(dir2 / "tokenizer.json");
  json tj = json::parse(in);
  in.close();
  tj["added_tokens"][0]["id"] = "zero";
  std::ofstream(dir2 / "tokenizer.json") << tj.dump();
  expect_has(convert_error(dir2), "unexpected structure in tokenizer.json");

  const auto dir3 = copy("bitnet-large-style");
  std::ofstream(dir3 / "config.json") << "{ not json";
  expect_has(convert_error(dir3), "config.json: not valid JSON");
}

TEST_F(ConvertBadInput, CliReportsErrorWithExitCodeOne) {
  const auto dir = copy("llama-ternary-packed");
  fs::remove(dir / "config.json");
  const std::string cmd = test::cli_command() + " convert " + dir.string() + " -o " +
                          (root_ / "cli.gguf").string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 1) << out;
  expect_has(out, "error (model): ");
  expect_has(out, "config.json: missing");
}

TEST(ConvertPreTokenizer, DetectsTheKnownStructures) {
  const auto with = [](const std::string& pre) {
    return std::string(R"({"model":{"type":"BPE","vocab":{}},"pre_tokenizer":)") + pre + "}";
  };
  const std::string falcon3 =
      R"({"type":"Sequence","pretokenizers":[{"type":"Punctuation","behavior":"Contiguous"},)"
      R"({"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},)"
      R"({"type":"Digits","individual_digits":true}]})";
  EXPECT_EQ(convert::detect_pre_tokenizer(with(falcon3), "t", 131072), "falcon3");
  EXPECT_EQ(convert::detect_pre_tokenizer(with(falcon3), "t", 32768), "falcon_e");
  const std::string falcon =
      R"({"type":"Sequence","pretokenizers":[{"type":"Punctuation","behavior":"Contiguous"},)"
      R"({"type":"ByteLevel","use_regex":true},{"type":"Digits","individual_digits":false},)"
      R"({"type":"Split","pattern":{"Regex":"[0-9][0-9][0-9]"},"behavior":"Isolated"}]})";
  EXPECT_EQ(convert::detect_pre_tokenizer(with(falcon), "t", 65024), "falcon");
  EXPECT_EQ(
      convert::detect_pre_tokenizer(with(R"({"type":"ByteLevel","use_regex":true})"), "t", 50257),
      "gpt-2");
  const fs::path a = test::fixtures_dir() / "hf" / "bitnet-b158-bf16" / "tokenizer.json";
  if (fs::exists(a)) {
    std::ifstream in(a);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(convert::detect_pre_tokenizer(ss.str(), a.string(), 2048), "llama-bpe");
  }
  EXPECT_THROW((void)convert::detect_pre_tokenizer(with("null"), "t", 10), Error);
  EXPECT_THROW((void)convert::detect_pre_tokenizer("{", "t", 10), Error);
}

TEST(ConvertSentencePiece, MalformedModelIsAnError) {
  EXPECT_THROW((void)convert::parse_sentencepiece_model("", "m"), Error);
  EXPECT_THROW((void)convert::parse_sentencepiece_model(std::string("\x0a\x10", 2), "m"), Error);
  EXPECT_THROW((void)convert::parse_sentencepiece_model(std::string("\x0a\x02\x18\x09", 4), "m"),
               Error);  // type 9
  const auto pieces = convert::parse_sentencepiece_model(
      std::string("\x0a\x08\x0a\x01x\x15\x00\x00\x80\xbf", 10), "m");
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].text, "x");
  EXPECT_EQ(pieces[0].score, -1.0f);
  EXPECT_EQ(pieces[0].type, 1);
}

}  // namespace
}  // namespace bitnet
