#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/gguf.hpp"
#include "model/config.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

TEST(GgufFixtures, TinyTq2Loads) {
  const auto file = gguf::GgufFile::open(test::fixture("tiny-bitnet-tq2_0.gguf"));
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.get_string("general.architecture"), "bitnet");
  EXPECT_EQ(file.tensors().size(), 46u);
  const auto& q = file.tensor("blk.0.attn_q.weight");
  EXPECT_EQ(q.type, TensorType::TQ2_0);
  EXPECT_EQ(q.ne[0], 256);
  EXPECT_EQ(q.ne[1], 256);
  EXPECT_EQ(file.tensor("token_embd.weight").type, TensorType::F16);
}

TEST(GgufFixtures, TinyI2sLoads) {
  const auto file = gguf::GgufFile::open(test::fixture("tiny-b158-i2s.gguf"));
  EXPECT_EQ(file.get_string("general.architecture"), "bitnet-b1.58");
  const auto& q = file.tensor("blk.0.attn_q.weight");
  EXPECT_EQ(q.type, TensorType::I2_S);
  EXPECT_EQ(q.nbytes, q.n_elements / 4 + 32);
  EXPECT_EQ(file.get("tokenizer.ggml.tokens").as_array().size, 128256u);
}

TEST(GgufFixtures, EveryFixtureGgufLoads) {
  int n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(test::fixtures_dir())) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    const auto file = gguf::GgufFile::open(entry.path().string());
    EXPECT_GT(file.metadata().size(), 0u);
    const std::byte* base = file.mapping().bytes().data() + file.data_offset();
    for (const auto& t : file.tensors()) {
      EXPECT_EQ(t.data, base + t.offset) << t.name;  // in place in the mapping, no copy
    }
    ++n;
  }
  EXPECT_GE(n, 4);
}

// The hyper-parameters the fixtures README states for each reference model.
TEST(GgufFixtures, ConfigsMatchTheReferenceModels) {
  const auto tq = read_model_config(gguf::GgufFile::open(test::fixture("tiny-bitnet-tq1_0.gguf")));
  EXPECT_EQ(tq.arch, Arch::Bitnet);
  EXPECT_EQ(tq.n_embd, 256);
  EXPECT_EQ(tq.n_layer, 4);
  EXPECT_EQ(tq.n_head, 4);
  EXPECT_EQ(tq.n_head_kv, 2);
  EXPECT_EQ(tq.n_ff, 768);
  EXPECT_EQ(tq.n_vocab, 32000);
  EXPECT_EQ(tq.rope_freq_base, 500000.0f);
  EXPECT_EQ(tq.weight_type, TensorType::TQ1_0);
  EXPECT_EQ(tq.embd_type, TensorType::F16);
  EXPECT_TRUE(tq.tied_output);
  const auto i2 = read_model_config(gguf::GgufFile::open(test::fixture("tiny-b158-i2s.gguf")));
  EXPECT_EQ(i2.arch, Arch::BitnetB158);
  EXPECT_EQ(i2.n_embd, 128);
  EXPECT_EQ(i2.head_dim, 32);
  EXPECT_EQ(i2.n_head_kv, 2);
  EXPECT_EQ(i2.n_vocab, 128256);
  EXPECT_EQ(i2.weight_type, TensorType::I2_S);
  EXPECT_EQ(i2.ffn_activation, FfnActivation::Relu2);
}

}  // namespace
}  // namespace bitnet
