// KV cache and Context state: capacity errors, truncate/reset, F32 cache, bad inputs.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "forward_test_support.hpp"
#include "model/context.hpp"

namespace bitnet {
namespace {

ErrorCategory category_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.category();
  }
  ADD_FAILURE() << "no bitnet::Error thrown";
  return ErrorCategory::internal;
}

TEST(KvCache, StoresF16RoundedAndTransposesV) {
  KvCache kv(2, 8, 4, KvType::F16);
  const float k[4] = {1.0f, 0.1f, -2.5f, 65504.0f};
  const float v[4] = {0.3f, -0.7f, 3.0f, 1e-3f};
  kv.store(1, 0, 5, k, v);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(kv.k_f16(1, 0, 5)[i], fp32_to_fp16(k[i]));
    EXPECT_EQ(kv.v_f16(1, 0, i)[5], fp32_to_fp16(v[i]));
  }
  EXPECT_EQ(kv.bytes(), 2u * 2 * 8 * 4 * sizeof(uint16_t));
}

TEST(KvCache, SequencesHaveSeparateRegionsAndCounts) {
  KvCache kv(2, 8, 4, KvType::F32, 3);
  const float a[4] = {1, 2, 3, 4};
  const float b[4] = {-1, -2, -3, -4};
  kv.store(1, 0, 2, a, a);
  kv.store(1, 2, 2, b, b);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(kv.k_f32(1, 0, 2)[i], a[i]);
    EXPECT_EQ(kv.k_f32(1, 2, 2)[i], b[i]);
    EXPECT_EQ(kv.v_f32(1, 2, i)[2], b[i]);
    EXPECT_EQ(kv.k_f32(1, 1, 2)[i], 0.0f);
  }
  kv.commit(8, 1);
  EXPECT_EQ(kv.n_past(0), 0);
  EXPECT_EQ(kv.n_past(1), 8);
  EXPECT_EQ(kv.n_past_total(), 8);
  EXPECT_EQ(category_of([&] { kv.check_room(1, 1); }), ErrorCategory::capacity);
  EXPECT_NO_THROW(kv.check_room(8, 2));
  EXPECT_EQ(category_of([&] { kv.check_room(1, 3); }), ErrorCategory::config);
  EXPECT_EQ(category_of([&] { kv.truncate(0, -1); }), ErrorCategory::config);
  kv.truncate(3, 1);
  EXPECT_EQ(kv.n_past(1), 3);
  kv.reset();
  EXPECT_EQ(kv.n_past_total(), 0);
  EXPECT_EQ(kv.bytes(), 2u * 2 * 3 * 8 * 4 * sizeof(float));
}

TEST(KvCache, CapacityErrorNamesNCtx) {
  KvCache kv(1, 4, 2, KvType::F32);
  kv.commit(3);
  try {
    kv.check_room(2);
    FAIL() << "expected an overflow error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::capacity);
    EXPECT_NE(std::string(e.what()).find("n_ctx = 4"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(kv.check_room(1));
  EXPECT_EQ(category_of([&] { kv.truncate(4); }), ErrorCategory::config);
  kv.truncate(1);
  EXPECT_EQ(kv.n_past(), 1);
  kv.reset();
  EXPECT_EQ(kv.n_past(), 0);
}

class ContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(test::fixture("tiny-bitnet-tq2_0.gguf")); }
  static void TearDownTestSuite() { model_.reset(); }
  static ContextOptions opts(int32_t n_ctx) {
    ContextOptions o;
    o.n_ctx = n_ctx;
    return o;
  }
  static std::shared_ptr<const Model> model_;
  const std::vector<int32_t> tokens_ = {1, 450, 4996, 17354, 1701, 432, 17204, 975};
};
std::shared_ptr<const Model> ContextTest::model_;

TEST_F(ContextTest, OverflowThrowsBeforeChangingAnything) {
  Context ctx(model_, opts(8));
  ctx.eval(std::span<const int32_t>(tokens_.data(), 6), false);
  const std::vector<float> before(ctx.last_logits().begin(), ctx.last_logits().end());
  EXPECT_EQ(category_of([&] { ctx.eval(std::span<const int32_t>(tokens_.data(), 3), false); }),
            ErrorCategory::capacity);
  EXPECT_EQ(ctx.n_past(), 6);
  EXPECT_EQ(0, std::memcmp(before.data(), ctx.last_logits().data(), before.size() * sizeof(float)));
  ctx.eval(std::span<const int32_t>(tokens_.data(), 2), false);  // exactly fills n_ctx
  EXPECT_EQ(ctx.n_past(), 8);
}

TEST_F(ContextTest, BadTokenAndOptionsAreConfigErrors) {
  Context ctx(model_, opts(16));
  const std::vector<int32_t> bad = {1, 32000};
  EXPECT_EQ(category_of([&] { ctx.eval(bad, false); }), ErrorCategory::config);
  const std::vector<int32_t> negative = {-1};
  EXPECT_EQ(category_of([&] { ctx.eval(negative, false); }), ErrorCategory::config);
  EXPECT_EQ(category_of([&] { ctx.eval({}, false); }), ErrorCategory::config);
  EXPECT_EQ(ctx.n_past(), 0);
  EXPECT_EQ(category_of([&] { Context c(model_, opts(0)); }), ErrorCategory::config);
}

TEST_F(ContextTest, TruncateAndResetReproduceTheSameLogits) {
  Context ctx(model_, opts(32));
  ctx.eval(tokens_, true);
  const std::vector<float> all(ctx.logits().begin(), ctx.logits().end());
  const auto n_vocab = static_cast<size_t>(ctx.n_vocab());
  ASSERT_EQ(all.size(), tokens_.size() * n_vocab);
  EXPECT_EQ(0, std::memcmp(ctx.last_logits().data(), all.data() + (tokens_.size() - 1) * n_vocab,
                           n_vocab * sizeof(float)));

  ctx.truncate(5);
  EXPECT_EQ(ctx.n_past(), 5);
  ctx.eval(std::span<const int32_t>(tokens_.data() + 5, tokens_.size() - 5), true);
  Context fresh(model_, opts(32));
  fresh.eval(std::span<const int32_t>(tokens_.data(), 5), false);
  fresh.eval(std::span<const int32_t>(tokens_.data() + 5, tokens_.size() - 5), true);
  EXPECT_EQ(0, std::memcmp(ctx.logits().data(), fresh.logits().data(), ctx.logits().size_bytes()));

  ctx.reset();
  EXPECT_EQ(ctx.n_past(), 0);
  ctx.eval(tokens_, true);
  EXPECT_EQ(0, std::memcmp(ctx.logits().data(), all.data(), all.size() * sizeof(float)));
}

TEST_F(ContextTest, ThreadCountDoesNotChangeResultsHere) {
  ContextOptions two = opts(32);
  two.n_threads = 2;
  Context a(model_, opts(32));
  Context b(model_, two);
  a.eval(tokens_, true);
  b.eval(tokens_, true);
  EXPECT_EQ(0, std::memcmp(a.logits().data(), b.logits().data(), a.logits().size_bytes()));
}

TEST_F(ContextTest, F32CacheIsCloseToF16) {
  ContextOptions f32 = opts(32);
  f32.type_k = f32.type_v = KvType::F32;
  Context a(model_, opts(32));
  Context b(model_, f32);
  a.eval(tokens_, true);
  b.eval(tokens_, true);
  const auto s = test::compare_logits(b.logits().data(), a.logits().data(),
                                      static_cast<int64_t>(tokens_.size()), a.n_vocab());
  s.print("F32 KV cache vs F16");
  EXPECT_GE(s.min_cos, 0.99);
}

TEST_F(ContextTest, StageObserverSeesEveryStageOfEveryLayer) {
  Context ctx(model_, opts(32));
  std::map<std::pair<int, Stage>, int64_t> seen;
  ctx.set_stage_observer([&](const StageTensor& t) {
    seen[{t.layer, t.stage}] = t.rows;
    EXPECT_EQ(t.first_pos, 0);
  });
  ctx.eval(std::span<const int32_t>(tokens_.data(), 3), true);
  const auto& c = model_->config();
  EXPECT_EQ(seen.size(), static_cast<size_t>(3 + 14 * c.n_layer));
  EXPECT_EQ((seen[{-1, Stage::logits}]), 3);
  EXPECT_EQ((seen[{0, Stage::ffn_act}]), 3);
  ctx.set_stage_observer({});
  seen.clear();
  ctx.eval(std::span<const int32_t>(tokens_.data() + 3, 1), false);
  EXPECT_TRUE(seen.empty());
}

}  // namespace
}  // namespace bitnet
