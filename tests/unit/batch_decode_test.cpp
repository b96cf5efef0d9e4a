// Multi-sequence batches (Context::decode, the server's continuous batching): with fast numerics
// every sequence's logits in a mixed batch are bit-identical to the same sequence evaluated alone,
// whatever the mix, the row order and the thread count; plus the batch's error paths.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <random>

#include "bitnet/error.hpp"
#include "forward_test_support.hpp"
#include "model/context.hpp"

namespace bitnet {
namespace {

ContextOptions options(int32_t n_ctx, int32_t n_seq, int n_threads, Numerics numerics) {
  ContextOptions o;
  o.n_ctx = n_ctx;
  o.n_seq = n_seq;
  o.n_threads = n_threads;
  o.numerics = numerics;
  return o;
}

ErrorCategory category_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.category();
  }
  ADD_FAILURE() << "no bitnet::Error thrown";
  return ErrorCategory::internal;
}

// Logits of every position of `tokens` evaluated alone, in `chunk`-token evals.
std::vector<std::vector<float>> solo_logits(const std::shared_ptr<const Model>& model,
                                            const std::vector<int32_t>& tokens, size_t chunk) {
  Context ctx(model, options(64, 1, 1, Numerics::Fast));
  std::vector<std::vector<float>> rows;
  for (size_t begin = 0; begin < tokens.size(); begin += chunk) {
    const size_t len = std::min(chunk, tokens.size() - begin);
    ctx.eval(std::span<const int32_t>(tokens.data() + begin, len), true);
    for (size_t r = 0; r < len; ++r) {
      const auto row = ctx.logits_row(static_cast<int64_t>(r));
      rows.emplace_back(row.begin(), row.end());
    }
  }
  return rows;
}

void check_batch_invariance(const std::string& model_file) {
  const auto model = Model::load(test::fixture(model_file));
  const int32_t n_vocab = static_cast<int32_t>(model->config().n_vocab);
  std::mt19937 rng(1234);
  const int n_rounds = test::sanitized_build() ? 2 : 4;
  for (int round = 0; round < n_rounds; ++round) {
    const int n_seq = 2 + round % 3;
    std::vector<std::vector<int32_t>> seqs(static_cast<size_t>(n_seq));
    std::vector<std::vector<std::vector<float>>> solo;
    for (auto& s : seqs) {
      const size_t len = 4 + rng() % 14;
      s.push_back(1);
      while (s.size() < len) s.push_back(static_cast<int32_t>(2 + rng() % (n_vocab - 2)));
      solo.push_back(solo_logits(model, s, 1 + rng() % 5));
    }
    for (int threads = 1; threads <= 3; ++threads) {
      Context ctx(model, options(64, n_seq, threads, Numerics::Fast));
      std::vector<size_t> done(static_cast<size_t>(n_seq), 0);
      size_t compared = 0;
      while (true) {
        // A random mix: each sequence contributes 0..4 next tokens, interleaved at random.
        std::vector<int32_t> order;
        for (int s = 0; s < n_seq; ++s) {
          const size_t left = seqs[static_cast<size_t>(s)].size() - done[static_cast<size_t>(s)];
          const size_t take = std::min<size_t>(left, rng() % 5);
          for (size_t i = 0; i < take; ++i) order.push_back(s);
        }
        if (order.empty()) {
          bool all_done = true;
          for (int s = 0; s < n_seq; ++s)
            all_done &= done[static_cast<size_t>(s)] == seqs[static_cast<size_t>(s)].size();
          if (all_done) break;
          continue;
        }
        std::shuffle(order.begin(), order.end(), rng);
        std::vector<BatchToken> batch;
        std::vector<std::pair<int32_t, size_t>> rows;  // (seq, position) of each logits row
        std::map<int32_t, size_t> next = {};
        for (int32_t s : order) {
          const size_t pos = done[static_cast<size_t>(s)] + next[s]++;
          const bool want = rng() % 4 != 0;
          batch.push_back({seqs[static_cast<size_t>(s)][pos], s, static_cast<int32_t>(pos), want});
          if (want) rows.emplace_back(s, pos);
        }
        ctx.decode(batch);
        ASSERT_EQ(ctx.n_logits_rows(), static_cast<int64_t>(rows.size()));
        for (size_t r = 0; r < rows.size(); ++r) {
          const auto& [s, pos] = rows[r];
          const auto got = ctx.logits_row(static_cast<int64_t>(r));
          const auto& want = solo[static_cast<size_t>(s)][pos];
          ASSERT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float)))
              << model_file << ": round " << round << ", " << threads << " threads, sequence " << s
              << " position " << pos << " differs from the sequence alone";
          ++compared;
        }
        for (auto& [s, k] : next) done[static_cast<size_t>(s)] += k;
      }
      for (int s = 0; s < n_seq; ++s)
        EXPECT_EQ(ctx.n_past(s), static_cast<int32_t>(seqs[static_cast<size_t>(s)].size()));
      std::printf("  %-24s round %d: %d sequences, %d threads, %zu rows bit-identical to solo\n",
                  model_file.c_str(), round, n_seq, threads, compared);
    }
  }
}

TEST(BatchDecode, FastNumericsAreBatchInvariantTQ2_0) {
  check_batch_invariance("tiny-bitnet-tq2_0.gguf");
}

TEST(BatchDecode, FastNumericsAreBatchInvariantI2S) {
  check_batch_invariance("tiny-b158-i2s.gguf");
}

// Reference numerics on one sequence through decode() are eval()'s bits (the goldens' path).
TEST(BatchDecode, SingleSequenceDecodeEqualsEval) {
  const auto model = Model::load(test::fixture("tiny-b158-i2s.gguf"));
  const std::vector<int32_t> tokens = {1, 450, 4996, 17354, 1701, 432};
  Context a(model, options(32, 1, 2, Numerics::Reference));
  a.eval(tokens, true);
  Context b(model, options(32, 1, 2, Numerics::Reference));
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < tokens.size(); ++i)
    batch.push_back({tokens[i], 0, static_cast<int32_t>(i), true});
  b.decode(batch);
  ASSERT_EQ(a.logits().size(), b.logits().size());
  EXPECT_EQ(0, std::memcmp(a.logits().data(), b.logits().data(), a.logits().size_bytes()));
}

TEST(BatchDecode, BadBatchesThrowBeforeChangingAnything) {
  const auto model = Model::load(test::fixture("tiny-bitnet-tq2_0.gguf"));
  Context ctx(model, options(4, 2, 1, Numerics::Fast));
  ctx.decode(std::vector<BatchToken>{{1, 0, 0, true}, {1, 1, 0, true}, {450, 1, 1, false}});
  EXPECT_EQ(ctx.n_past(0), 1);
  EXPECT_EQ(ctx.n_past(1), 2);
  EXPECT_EQ(ctx.n_logits_rows(), 2);
  const auto expect_error = [&](std::vector<BatchToken> batch, ErrorCategory category,
                                const std::string& text) {
    try {
      ctx.decode(batch);
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), category) << e.what();
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
    EXPECT_EQ(ctx.n_past(0), 1);
    EXPECT_EQ(ctx.n_past(1), 2);
  };
  expect_error({}, ErrorCategory::config, "empty batch");
  expect_error({{1, 2, 0, true}}, ErrorCategory::config, "sequence id 2");
  expect_error({{1, -1, 0, true}}, ErrorCategory::config, "sequence id -1");
  expect_error({{1, 0, 1, true}, {1, 0, 3, true}}, ErrorCategory::config, "expected 2");
  expect_error({{1, 1, 1, true}}, ErrorCategory::config, "position 1 of sequence 1, expected 2");
  expect_error({{32000, 0, 1, true}}, ErrorCategory::config, "outside the vocab");
  expect_error({{1, 1, 2, true}, {1, 1, 3, true}, {1, 1, 4, true}}, ErrorCategory::capacity,
               "of sequence 1");
  EXPECT_EQ(category_of([&] { ctx.truncate(3, 0); }), ErrorCategory::config);
  ctx.truncate(0, 1);
  EXPECT_EQ(ctx.n_past(1), 0);
  EXPECT_EQ(ctx.n_past(0), 1);
  EXPECT_EQ(category_of([&] { (void)ctx.logits_row(5); }), ErrorCategory::config);
  EXPECT_EQ(category_of([&] { Context c(model, options(4, 0, 1, Numerics::Fast)); }),
            ErrorCategory::config);
}

}  // namespace
}  // namespace bitnet
