#include "trace/trace_diff.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bitnet/error.hpp"
#include "test_support.hpp"
#include "trace/trace_diff_report.hpp"
#include "trace_synthetic.hpp"
#include "trace_test_support.hpp"

namespace bitnet {
namespace {

using test::SyntheticRun;

class TraceDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::scratch_dir() /
            ("trace-diff-" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::filesystem::path run(const std::string& name, const SyntheticRun& r) {
    const auto dir = root_ / name;
    test::write_synthetic_run(dir, r);
    return dir;
  }

  TraceDiff diff(const std::filesystem::path& a, const std::filesystem::path& b,
                 double tol = 1e-6) {
    return diff_traces(Trace::load(a), Trace::load(b), tol);
  }

  test::CommandResult cli(const std::string& args) {
    return test::run_command(test::cli_command() + " trace-diff " + args, root_);
  }

  std::string q(const std::filesystem::path& p) { return test::shell_quote(p.string()); }

  // A trace file with the given lines (and nothing else) in its own directory.
  std::filesystem::path trace_file(const std::string& name, const std::vector<std::string>& lines) {
    const auto dir = root_ / name;
    std::filesystem::create_directories(dir);
    std::ofstream out(dir / "t.jsonl");
    for (const auto& l : lines) out << l << "\n";
    return dir / "t.jsonl";
  }

  std::filesystem::path root_;
};

int64_t total(const TraceDiff& d, RecordStatus s) {
  return d.totals[static_cast<int>(s)];
}

TEST_F(TraceDiffTest, IdenticalRunsHaveNoDivergence) {
  const SyntheticRun r;
  const auto a = run("a", r), b = run("b", r);
  const TraceDiff d = diff(a, b);
  EXPECT_FALSE(d.diverged());
  // 3 evals (4 + 1 + 1 positions) x (embeddings + 4 layers x 14 stages + final_norm + logits).
  const int64_t expected = (4 + 1 + 1) * (1 + 4 * 14 + 2);
  EXPECT_EQ(total(d, RecordStatus::identical), expected);
  EXPECT_EQ(d.a.records, expected);
  EXPECT_TRUE(d.a.has_data);
  EXPECT_TRUE(d.non_identical.empty());
  ASSERT_EQ(d.layers.size(), 6u);
  EXPECT_EQ(d.layers.front().label, "input");
  EXPECT_EQ(d.layers[1].label, "0");
  EXPECT_EQ(d.layers.back().label, "output");

  const auto result = cli(q(a) + " " + q(b));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("no divergence: " + std::to_string(expected) + " identical"),
            std::string::npos)
      << result.out;
}

TEST_F(TraceDiffTest, NamesThePerturbedLayerAsFirstDivergence) {
  SyntheticRun perturbed;
  perturbed.perturb_layer = 2;
  const auto a = run("a", SyntheticRun{}), b = run("b", perturbed);
  const TraceDiff d = diff(a, b);
  ASSERT_TRUE(d.diverged());
  const auto& first = *d.first_divergence;
  EXPECT_EQ(first.key.seq, 0);
  EXPECT_EQ(first.key.layer, 2);
  EXPECT_EQ(first.key.stage, Stage::q_proj);
  EXPECT_EQ(first.key.pos, 0);
  EXPECT_EQ(first.status, RecordStatus::different);
  ASSERT_TRUE(first.cosine.has_value());
  EXPECT_LT(*first.cosine, 0.999);
  EXPECT_GT(*first.max_abs_diff, 0.1);
  // Layers 0 and 1 agree in every eval; layer 2 diverges at q_proj.
  EXPECT_EQ(d.layers[1].counts[static_cast<int>(RecordStatus::identical)], 6 * 14);
  EXPECT_FALSE(d.layers[2].first_divergence.has_value());
  ASSERT_TRUE(d.layers[3].first_divergence.has_value());
  EXPECT_EQ(d.layers[3].first_divergence->key.stage, Stage::q_proj);

  const auto result = cli(q(a) + " " + q(b));
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("first divergence: seq 0, layer 2, stage q_proj, pos 0: different"),
            std::string::npos)
      << result.out;
}

TEST_F(TraceDiffTest, TinyDifferencesAreCloseUnderTheTolerance) {
  SyntheticRun nudged;
  nudged.perturb_layer = 1;
  nudged.delta = 1e-4f;
  const auto a = run("a", SyntheticRun{}), b = run("b", nudged);
  const TraceDiff loose = diff(a, b, 1e-6);
  EXPECT_FALSE(loose.diverged());
  EXPECT_GT(total(loose, RecordStatus::close), 0);
  EXPECT_EQ(total(loose, RecordStatus::different), 0);
  const TraceDiff strict = diff(a, b, 1e-12);
  ASSERT_TRUE(strict.diverged());
  EXPECT_EQ(strict.first_divergence->key.layer, 1);

  EXPECT_EQ(cli(q(a) + " " + q(b)).exit_code, 0);
  EXPECT_EQ(cli(q(a) + " " + q(b) + " --tol 1e-12").exit_code, 1);
}

TEST_F(TraceDiffTest, WithoutRawDataADifferentHashIsDifferent) {
  SyntheticRun plain, perturbed;
  plain.save_data = false;
  perturbed.save_data = false;
  perturbed.perturb_layer = 3;
  perturbed.delta = 1e-4f;
  const TraceDiff d = diff(run("a", plain), run("b", perturbed));
  ASSERT_TRUE(d.diverged());
  EXPECT_EQ(d.first_divergence->key.layer, 3);
  EXPECT_FALSE(d.first_divergence->cosine.has_value());
  EXPECT_NE(d.first_divergence->note.find("BITNET_TRACE_DATA"), std::string::npos);
  EXPECT_FALSE(d.a.has_data);
}

TEST_F(TraceDiffTest, MissingEvalIsADivergence) {
  SyntheticRun shorter;
  shorter.n_decode = 1;
  const auto a = run("a", SyntheticRun{}), b = run("b", shorter);
  const TraceDiff d = diff(a, b);
  ASSERT_TRUE(d.diverged());
  EXPECT_EQ(d.first_divergence->status, RecordStatus::missing_in_b);
  EXPECT_EQ(d.first_divergence->key.seq, 2);
  EXPECT_EQ(d.first_divergence->key.stage, Stage::embeddings);
  EXPECT_EQ(total(d, RecordStatus::missing_in_b), 1 + 4 * 14 + 2);
  const TraceDiff reversed = diff(b, a);
  EXPECT_EQ(reversed.first_divergence->status, RecordStatus::missing_in_a);
  EXPECT_EQ(cli(q(a) + " " + q(b)).exit_code, 1);
}

TEST_F(TraceDiffTest, StagesOneSideDoesNotTraceAreNotCompared) {
  SyntheticRun partial;
  partial.untraced = {Stage::q_proj, Stage::k_proj};
  const TraceDiff d = diff(run("a", SyntheticRun{}), run("b", partial));
  EXPECT_FALSE(d.diverged());
  EXPECT_EQ(d.unmatched, 2 * 6 * 4);
  EXPECT_EQ(d.b.untraced_stages, (std::vector<std::string>{"q_proj", "k_proj"}));
  EXPECT_TRUE(d.a.untraced_stages.empty());
}

TEST_F(TraceDiffTest, JsonReportCarriesTheFirstDivergence) {
  SyntheticRun perturbed;
  perturbed.perturb_layer = 2;
  const auto a = run("a", SyntheticRun{}), b = run("b", perturbed);
  const auto result = cli(q(a) + " " + q(b) + " --format json --max-records 5");
  ASSERT_EQ(result.exit_code, 1) << result.err;
  const auto j = nlohmann::json::parse(result.out);
  EXPECT_EQ(j["format"], "bitnet-trace-diff");
  EXPECT_EQ(j["diverged"], true);
  EXPECT_EQ(j["first_divergence"]["layer"], 2);
  EXPECT_EQ(j["first_divergence"]["stage"], "q_proj");
  EXPECT_EQ(j["first_divergence"]["status"], "different");
  EXPECT_EQ(j["records"].size(), 5u);
  EXPECT_EQ(j["records_truncated"], true);
  EXPECT_EQ(j["layers"][3]["label"], "2");
  EXPECT_EQ(j["layers"][3]["first_divergence"]["stage"], "q_proj");
  EXPECT_TRUE(j["layers"][1]["first_divergence"].is_null());
}

TEST_F(TraceDiffTest, ForwardOrderIsLayerByLayerWithinAnEval) {
  auto key = [](int64_t seq, int layer, Stage stage, int64_t pos) {
    return TraceKey{seq, layer, stage, pos};
  };
  EXPECT_LT(key(0, -1, Stage::embeddings, 9), key(0, 0, Stage::attn_norm, 0));
  EXPECT_LT(key(0, 0, Stage::layer_out, 9), key(0, 2, Stage::attn_norm, 0));
  EXPECT_LT(key(0, 2, Stage::q_proj, 9), key(0, 2, Stage::k_proj, 0));
  EXPECT_LT(key(0, 30, Stage::layer_out, 9), key(0, -1, Stage::final_norm, 0));
  EXPECT_LT(key(0, -1, Stage::final_norm, 9), key(0, -1, Stage::logits, 0));
  EXPECT_LT(key(0, -1, Stage::logits, 9), key(1, -1, Stage::embeddings, 0));
}

TEST(TraceDiffRows, CosineAndMaxAbs) {
  const std::vector<float> x = {1, 2, 3}, y = {1, 2, 4}, zero = {0, 0, 0};
  const auto m = compare_rows(x, y);
  EXPECT_NEAR(m.cosine, (1 + 4 + 12) / (std::sqrt(14.0) * std::sqrt(21.0)), 1e-15);
  EXPECT_EQ(m.max_abs_diff, 1.0);
  EXPECT_EQ(compare_rows(zero, zero).cosine, 1.0);
  EXPECT_EQ(compare_rows(zero, x).cosine, 0.0);
  const std::vector<float> with_nan = {1, NAN, 3};
  EXPECT_TRUE(std::isnan(compare_rows(x, with_nan).max_abs_diff));
  EXPECT_TRUE(std::isnan(compare_rows(x, with_nan).cosine));
}

// ---- malformed input: each is a clear error naming file and line, and exit code 2 from the CLI

const std::string kGood =
    R"({"seq":0,"layer":-1,"stage":"embeddings","pos":0,"shape":[4],"dtype":"f32","rms":1.5,)"
    R"("blake3":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"})";

std::string with(const std::string& from, const std::string& to) {
  std::string s = kGood;
  const auto at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST_F(TraceDiffTest, MalformedRecordsAreErrorsWithFileAndLine) {
  struct Case {
    const char* name;
    std::string second_line;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"not-json", "{\"seq\":0,", "not valid JSON"},
      {"number-beyond-double", "{\"seq\":1e999}", "not valid JSON"},
      {"not-object", "[1,2]", "must be a JSON object"},
      {"no-stage", with(R"("stage":"embeddings",)", ""), "missing field \"stage\""},
      {"bad-stage", with("embeddings", "qproj"), "unknown stage \"qproj\""},
      {"layer-mismatch", with(R"("layer":-1)", R"("layer":3)"), "layer -1"},
      {"negative-pos", with(R"("pos":0)", R"("pos":-2)"), "field \"pos\""},
      {"string-seq", with(R"("seq":0)", R"("seq":"0")"), "field \"seq\" must be an integer"},
      {"bad-shape", with("[4]", "[]"), "field \"shape\""},
      {"bad-dtype", with("f32", "f16"), "unsupported dtype"},
      {"bad-rms", with("1.5", "\"x\""), "field \"rms\""},
      {"bad-hash", with("af1349", "AF1349"), "field \"blake3\""},
      {"short-hash", with("af1349", ""), "field \"blake3\""},
      {"duplicate", with("", ""), "a second record"},
      {"data-path", with(R"(,"blake3")", R"(,"data":"../x.bin","offset":0,"blake3")"),
       "field \"data\""},
  };
  for (const auto& c : cases) {
    const auto path = trace_file(c.name, {kGood, c.second_line});
    try {
      Trace::load(path);
      ADD_FAILURE() << c.name << ": expected an error";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.category(), ErrorCategory::io) << c.name;
      EXPECT_NE(what.find(path.string() + ":2:"), std::string::npos) << c.name << ": " << what;
      EXPECT_NE(what.find(c.message), std::string::npos) << c.name << ": " << what;
    }
  }
  const auto good = trace_file("good", {kGood});
  EXPECT_EQ(Trace::load(good).records().size(), 1u);
  const auto result = cli(q(good) + " " + q(root_ / "bad-stage"));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown stage \"qproj\""), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
}

TEST_F(TraceDiffTest, RawDataMustLieInsideItsFile) {
  { std::ofstream(root_ / "small.bin", std::ios::binary) << std::string(8, '\0'); }
  const auto path = trace_file(
      "data-range", {with(R"(,"blake3")", R"(,"data":"small.bin","offset":0,"blake3")")});
  std::filesystem::copy_file(root_ / "small.bin", path.parent_path() / "small.bin");
  try {
    Trace::load(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lies outside small.bin (8 bytes)"), std::string::npos)
        << e.what();
  }
  const auto absent = trace_file(
      "data-absent", {with(R"(,"blake3")", R"(,"data":"none.bin","offset":0,"blake3")")});
  EXPECT_THROW(Trace::load(absent), Error);
}

TEST_F(TraceDiffTest, DirectoryWithSeveralTracesNeedsAFileName) {
  const auto dir = root_ / "two";
  test::write_synthetic_run(dir, SyntheticRun{});
  test::write_synthetic_run(dir, SyntheticRun{});
  try {
    Trace::load(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds 2 traces"), std::string::npos) << e.what();
  }
  const auto files = find_trace_files(dir);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(cli(q(files[0]) + " " + q(files[1])).exit_code, 0);
  EXPECT_EQ(cli(q(dir) + " " + q(files[1])).exit_code, 2);
  EXPECT_EQ(cli(q(root_ / "empty-nowhere") + " " + q(files[1])).exit_code, 2);
}

TEST_F(TraceDiffTest, UsageErrorsExitTwo) {
  const auto a = run("a", SyntheticRun{});
  for (const std::string& args : {std::string(""), q(a), q(a) + " " + q(a) + " --format xml",
                                  q(a) + " " + q(a) + " --tol -1", q(a) + " " + q(a) + " --tol abc",
                                  q(a) + " " + q(a) + " --bogus", q(a) + " " + q(a) + " extra"}) {
    const auto result = cli(args);
    EXPECT_EQ(result.exit_code, 2) << "args: " << args << "\n" << result.err;
    EXPECT_FALSE(result.err.empty()) << "args: " << args;
  }
}

}  // namespace
}  // namespace bitnet
