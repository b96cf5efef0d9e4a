// Synthetic models: deterministic, readable by our reader and config, identical values in every
// ternary type (read back and dequantized), the metadata layout of the reference fixtures.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "gguf/gguf.hpp"
#include "model/config.hpp"
#include "model/synth.hpp"
#include "quant/dequantize.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

// A small shape every type can hold: rows of 256.
synth::ModelShape small_shape() {
  auto s = synth::preset("tiny");
  s.n_layer = 1;
  return s;
}

std::string write_model(TensorType type, uint64_t seed, const std::string& tag,
                        synth::TokenizerWriter tokenizer = nullptr) {
  synth::SynthOptions o;
  o.shape = small_shape();
  o.weight_type = type;
  o.seed = seed;
  o.tokenizer = std::move(tokenizer);
  const auto path = (test::scratch_dir() / ("synth-" + tag + ".gguf")).string();
  synth::write_synthetic_model(o, path);
  return path;
}

std::vector<float> values_of(const gguf::TensorInfo& t) {
  std::vector<float> y(static_cast<size_t>(t.n_elements));
  dequantize_tensor(t.type, t.data, y.data(), t.n_elements, t.ne[0]);
  return y;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(SynthModel, EveryTypeHoldsTheSameValues) {
  const auto reference = gguf::GgufFile::open(write_model(TensorType::F16, 5, "f16"));
  for (auto type : {TensorType::I2_S, TensorType::TQ1_0, TensorType::TQ2_0}) {
    SCOPED_TRACE(std::string(to_string(type)));
    const auto file = gguf::GgufFile::open(write_model(type, 5, std::string(to_string(type))));
    ASSERT_EQ(file.tensors().size(), reference.tensors().size());
    for (const auto& t : file.tensors()) {
      const auto& r = reference.tensor(t.name);
      EXPECT_EQ(t.ne, r.ne) << t.name;
      EXPECT_EQ(values_of(t), values_of(r)) << t.name;
      if (t.name.find("attn_q") != std::string_view::npos) {
        EXPECT_EQ(t.type, type);
      }
    }
  }
}

TEST(SynthModel, WeightsAreTernaryTimesAnFp16ExactScale) {
  const auto file = gguf::GgufFile::open(write_model(TensorType::I2_S, 9, "scale"));
  const auto& q = file.tensor("blk.0.ffn_down.weight");
  EXPECT_EQ(q.ne[0], 768);
  const float s = i2s_scale(q.data, q.n_elements);
  EXPECT_EQ(s, synth::bitlinear_scale(9, "blk.0.ffn_down.weight", 768));
  EXPECT_EQ(round_to_fp16(s), s);
  std::vector<int8_t> trits(static_cast<size_t>(q.n_elements));
  synth::bitlinear_trits(9, "blk.0.ffn_down.weight", 768, 0, q.ne[1], trits.data());
  const auto y = values_of(q);
  int64_t zeros = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_EQ(y[i], static_cast<float>(trits[i]) * s) << i;
    zeros += trits[i] == 0;
  }
  EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(y.size()), 0.5, 0.02);
  for (float w : values_of(file.tensor("blk.0.attn_norm.weight"))) {
    EXPECT_GT(w, 0.7f);
    EXPECT_LT(w, 1.3f);
  }
}

TEST(SynthModel, SameSeedSameFileOtherSeedOtherWeights) {
  const auto a = write_model(TensorType::TQ2_0, 1, "seed-a");
  const auto b = write_model(TensorType::TQ2_0, 1, "seed-b");
  const auto c = write_model(TensorType::TQ2_0, 2, "seed-c");
  EXPECT_EQ(file_bytes(a), file_bytes(b));
  EXPECT_NE(file_bytes(a), file_bytes(c));
}

TEST(SynthModel, ChunkedGenerationMatchesWholeRows) {
  std::vector<int8_t> whole(256 * 10), part(256 * 3);
  synth::bitlinear_trits(3, "w", 256, 0, 10, whole.data());
  synth::bitlinear_trits(3, "w", 256, 4, 3, part.data());
  EXPECT_EQ(0, std::memcmp(part.data(), whole.data() + 4 * 256, part.size()));
}

TEST(SynthModel, ConfigAndTokenizerMetadata) {
  const auto file = gguf::GgufFile::open(write_model(TensorType::I2_S, 1, "config"));
  const auto c = read_model_config(file);
  EXPECT_EQ(c.arch, Arch::BitnetB158);
  EXPECT_EQ(c.n_embd, 256);
  EXPECT_EQ(c.n_layer, 1);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.n_ff, 768);
  EXPECT_EQ(c.n_vocab, 1024);
  EXPECT_EQ(c.rope_freq_base, 500000.0f);
  EXPECT_EQ(c.weight_type, TensorType::I2_S);
  EXPECT_EQ(c.embd_type, TensorType::F16);
  EXPECT_TRUE(c.tied_output);
  EXPECT_EQ(file.get_u64("general.file_type"), 40u);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  const auto& tokens = file.get("tokenizer.ggml.tokens").as_array();
  ASSERT_EQ(tokens.size, 1024u);
  EXPECT_EQ(tokens.strings['A'], "A");
  EXPECT_EQ(tokens.strings[' '], "\xC4\xA0");  // "Ġ"
  EXPECT_EQ(tokens.strings[256],
            "\xC4\xA0"
            "a");
  EXPECT_EQ(tokens.strings[256 + 26], "aa");
  // Special tokens take the last 256 ids, at LLaMA-3's offsets.
  EXPECT_EQ(file.get_u64("tokenizer.ggml.bos_token_id"), 768u);
  EXPECT_EQ(file.get_u64("tokenizer.ggml.eos_token_id"), 769u);
  EXPECT_EQ(file.get_u64("tokenizer.ggml.eot_token_id"), 777u);
  EXPECT_EQ(tokens.strings[768], "<|begin_of_text|>");
  EXPECT_EQ(tokens.strings[777], "<|eot_id|>");
  const auto& merges = file.get("tokenizer.ggml.merges").as_array();
  ASSERT_EQ(merges.size, 512u);
  EXPECT_EQ(merges.strings[0], "\xC4\xA0 a");
  EXPECT_EQ(merges.strings[26], "a a");
  const auto& types = file.get("tokenizer.ggml.token_type").as_array();
  ASSERT_EQ(types.size, 1024u);
  EXPECT_EQ(types.numeric_at<int32_t>(65), 1);   // normal
  EXPECT_EQ(types.numeric_at<int32_t>(768), 3);  // control
}

TEST(SynthModel, TokenizerHookSetsTheVocabulary) {
  const auto source = gguf::GgufFile::open(test::fixture("tiny-bitnet-tq2_0.gguf"));
  const auto path = write_model(TensorType::TQ2_0, 1, "copied", [&](gguf::GgufWriter& w) {
    return synth::copy_tokenizer(source, w);
  });
  const auto file = gguf::GgufFile::open(path);
  EXPECT_EQ(file.tensor("token_embd.weight").ne[1], 32000);
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(file.get("tokenizer.ggml.scores").as_array().size, 32000u);
  EXPECT_EQ(read_model_config(file).n_vocab, 32000);
  for (const auto& [key, value] : source.metadata()) {
    if (key.starts_with("tokenizer.")) {
      EXPECT_NE(file.find(key), nullptr) << key;
    }
  }
}

TEST(SynthModel, BadRequestsAreConfigErrors) {
  EXPECT_THROW((void)synth::preset("7b"), Error);
  synth::SynthOptions o;
  o.shape = small_shape();
  o.weight_type = TensorType::Q8_0;
  EXPECT_THROW(synth::write_synthetic_model(o, (test::scratch_dir() / "bad.gguf").string()), Error);
  o.weight_type = TensorType::TQ2_0;
  o.shape.n_embd = 384;  // not a multiple of 256
  o.shape.n_head = 6;
  EXPECT_THROW(synth::write_synthetic_model(o, (test::scratch_dir() / "bad.gguf").string()), Error);
  o.weight_type = TensorType::I2_S;  // 384 = 3 x 128 is fine for I2_S
  EXPECT_NO_THROW(synth::write_synthetic_model(o, (test::scratch_dir() / "ok384.gguf").string()));
}

TEST(SynthModel, PresetsHaveTheReferenceShapes) {
  const auto b = synth::preset("2b4t");
  EXPECT_EQ(b.arch, "bitnet-b1.58");
  EXPECT_EQ(b.n_embd, 2560);
  EXPECT_EQ(b.n_layer, 30);
  EXPECT_EQ(b.n_head, 20);
  EXPECT_EQ(b.n_head_kv, 5);
  EXPECT_EQ(b.n_ff, 6912);
  EXPECT_EQ(b.n_vocab, 128256);
  const auto u = synth::preset("2b-bitnet");
  EXPECT_EQ(u.arch, "bitnet");
  EXPECT_EQ(u.n_vocab, 32000);
  EXPECT_EQ(u.n_ff, 6912);
}

}  // namespace
}  // namespace bitnet
