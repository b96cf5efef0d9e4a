// `bitnet eval` writes the fixtures' logits layout: compare its file with a golden .bin.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "forward_test_support.hpp"

namespace bitnet {
namespace {

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

int run(const std::string& args) {
  return std::system((test::cli_command() + " " + args + " 2>/dev/null").c_str());
}

TEST(ForwardCli, EvalWritesTheGoldenLayout) {
  const auto cases = test::load_golden_cases("golden", "tiny-b158-i2s.p1");
  ASSERT_EQ(cases.size(), 1u);
  const auto& gc = cases[0];
  const auto out = (test::scratch_dir() / "eval-all.bin").string();
  ASSERT_EQ(0, run("eval -m " + gc.model + " --tokens " + join(gc.tokens) + " --out " + out));
  const auto all = test::read_f32_file(out);
  ASSERT_EQ(all.size(), gc.logits.size());
  const auto stats = test::compare_logits(all.data(), gc.logits.data(),
                                          static_cast<int64_t>(gc.tokens.size()), gc.n_vocab);
  EXPECT_TRUE(stats.passes());

  const auto last_out = (test::scratch_dir() / "eval-last.bin").string();
  ASSERT_EQ(0, run("eval -m " + gc.model + " --tokens " + join(gc.tokens) +
                   " --last -t 2 -c 64 -o " + last_out));
  const auto last = test::read_f32_file(last_out);
  ASSERT_EQ(static_cast<int64_t>(last.size()), gc.n_vocab);
  EXPECT_EQ(0, std::memcmp(last.data(), all.data() + all.size() - last.size(),
                           last.size() * sizeof(float)));
}

TEST(ForwardCli, EvalRejectsBadInput) {
  const auto model = test::fixture("tiny-bitnet-tq2_0.gguf");
  const auto out = (test::scratch_dir() / "eval-bad.bin").string();
  EXPECT_NE(0, run("eval -m " + model + " --tokens 1,abc --out " + out));
  EXPECT_NE(0, run("eval -m " + model + " --tokens 1,99999 --out " + out));
  EXPECT_NE(0, run("eval -m " + model + " --tokens 1,2,3 -c 2 --out " + out));
  EXPECT_NE(0, run("eval -m /nonexistent.gguf --tokens 1 --out " + out));
}

}  // namespace
}  // namespace bitnet
