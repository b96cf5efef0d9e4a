// The `--poll` flag's parsing and its mapping to a libgomp spin count (the re-exec itself is
// exercised by every CLI test).
#include "kernels/omp_policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bitnet::kernels {
namespace {

std::optional<int> poll_of(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return poll_level_in(argv.data());
}

TEST(OmpPolicy, PollLevelIsReadInBothForms) {
  EXPECT_EQ(poll_of({"bitnet", "bench", "--poll", "0"}), 0);
  EXPECT_EQ(poll_of({"bitnet", "bench", "-m", "x", "--poll=100"}), 100);
  EXPECT_EQ(poll_of({"bitnet", "bench", "-m", "x"}), std::nullopt);
}

TEST(OmpPolicy, BadPollLevelsAreLeftToTheParser) {
  EXPECT_EQ(poll_of({"bitnet", "bench", "--poll", "101"}), std::nullopt);
  EXPECT_EQ(poll_of({"bitnet", "bench", "--poll", "-1"}), std::nullopt);
  EXPECT_EQ(poll_of({"bitnet", "bench", "--poll", "5x"}), std::nullopt);
  EXPECT_EQ(poll_of({"bitnet", "bench", "--poll"}), std::nullopt);
  EXPECT_EQ(poll_of({"bitnet", "run", "--", "--poll", "3"}), std::nullopt);
}

TEST(OmpPolicy, PollFiftyIsTheDefaultSpinCount) {
  EXPECT_EQ(spin_count_for_poll(0), 0);
  EXPECT_EQ(spin_count_for_poll(50), kDefaultGompSpinCount);
  EXPECT_GT(spin_count_for_poll(100), spin_count_for_poll(50));
}

}  // namespace
}  // namespace bitnet::kernels
