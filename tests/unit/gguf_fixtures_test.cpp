#include <gtest/gtest.h>

#include "gguf/gguf.hpp"
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

}  // namespace
}  // namespace bitnet
