// The forward pass against the reference implementations' logits (fixtures/golden: bitnet.cpp,
// I2_S; fixtures/golden-upstream: llama.cpp, TQ2_0/TQ1_0): every case's tokens in one batch.
#include <gtest/gtest.h>

#include <map>

#include "forward_test_support.hpp"
#include "model/context.hpp"

namespace bitnet {
namespace {

using test::GoldenCase;

void check_golden_dir(const std::string& dir, const std::string& model_prefix, Numerics numerics,
                      bool require) {
  auto cases = test::load_golden_cases(dir, model_prefix);
  test::trim_for_sanitizers(cases, dir == "golden" ? 2 : 1);
  ASSERT_FALSE(cases.empty()) << "no golden cases for " << model_prefix << " in " << dir;
  std::map<std::string, std::shared_ptr<const Model>> models;
  std::printf("%s (%s numerics):\n", model_prefix.c_str(),
              numerics == Numerics::Reference ? "reference" : "fast");
  for (const GoldenCase& gc : cases) {
    auto& model = models[gc.model];
    if (!model) model = Model::load(gc.model);
    ContextOptions opt;
    opt.n_ctx = 512;
    opt.numerics = numerics;
    Context ctx(model, opt);
    ASSERT_EQ(ctx.n_vocab(), gc.n_vocab);
    ctx.eval(gc.tokens, true);
    const auto rows = static_cast<int64_t>(gc.tokens.size());
    ASSERT_EQ(static_cast<int64_t>(gc.logits.size()), rows * gc.n_vocab) << gc.name;
    const auto stats =
        test::compare_logits(ctx.logits().data(), gc.logits.data(), rows, gc.n_vocab);
    stats.print(gc.name);
    if (require) {
      EXPECT_TRUE(numerics == Numerics::Reference ? stats.passes() : stats.passes_loose())
          << gc.name;
      // Reference numerics are the reference's bits, with every kernel set on every architecture.
      if (numerics == Numerics::Reference) {
        EXPECT_EQ(stats.max_abs, 0.0) << gc.name;
      }
    }
  }
}

TEST(ForwardGolden, BitnetCppI2S) {
  check_golden_dir("golden", "tiny-b158-i2s", Numerics::Reference, true);
}
TEST(ForwardGolden, UpstreamTQ2_0) {
  check_golden_dir("golden-upstream", "tiny-bitnet-tq2_0", Numerics::Reference, true);
}
TEST(ForwardGolden, UpstreamTQ1_0) {
  check_golden_dir("golden-upstream", "tiny-bitnet-tq1_0", Numerics::Reference, true);
}
// Fast numerics (one-token roundings for every batch, TQ sums block by block) are not the
// reference's bits: they are held to the loose bar (ParityStats::passes_loose).
TEST(ForwardGolden, FastNumericsMeetTheParityBar) {
  check_golden_dir("golden", "tiny-b158-i2s", Numerics::Fast, true);
  check_golden_dir("golden-upstream", "tiny-bitnet-tq2_0", Numerics::Fast, true);
  check_golden_dir("golden-upstream", "tiny-bitnet-tq1_0", Numerics::Fast, true);
}

}  // namespace
}  // namespace bitnet
