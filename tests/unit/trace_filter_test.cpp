// BITNET_TRACE_FILTER: parsing (every bad pattern named), matching, the recorder keeping only the
// matching records, and trace-diff telling records a filter left out from missing ones.
#include "trace/trace_filter.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "test_support.hpp"
#include "trace/trace_diff.hpp"
#include "trace/trace_reader.hpp"
#include "trace/trace_recorder.hpp"

namespace bitnet {
namespace {

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = test::scratch_dir() / name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(TraceFilter, LayerRangesAndStageGlobs) {
  const auto f = TraceFilter::parse("0-1:attn_*, 3:ffn_out ,*:logits");
  EXPECT_TRUE(f.matches(0, Stage::attn_norm));
  EXPECT_TRUE(f.matches(1, Stage::attn_sub_norm));
  EXPECT_FALSE(f.matches(2, Stage::attn_norm));
  EXPECT_TRUE(f.matches(3, Stage::ffn_out));
  EXPECT_FALSE(f.matches(3, Stage::ffn_up));
  EXPECT_TRUE(f.matches(-1, Stage::logits));
  EXPECT_FALSE(f.matches(-1, Stage::embeddings));
  EXPECT_FALSE(f.matches(0, Stage::q_proj));
  EXPECT_EQ(f.spec(), "0-1:attn_*, 3:ffn_out ,*:logits");
}

TEST(TraceFilter, BareStageMeansEveryLayerAndStarMatchesAll) {
  const auto f = TraceFilter::parse("*_proj");
  EXPECT_TRUE(f.matches(0, Stage::q_proj));
  EXPECT_TRUE(f.matches(7, Stage::o_proj));
  EXPECT_FALSE(f.matches(7, Stage::ffn_out));
  const auto all = TraceFilter::parse("*:*");
  EXPECT_TRUE(all.matches(-1, Stage::embeddings));
  EXPECT_TRUE(all.matches(12, Stage::layer_out));
  EXPECT_TRUE(TraceFilter().matches(5, Stage::ffn_act));
  EXPECT_TRUE(TraceFilter().keeps_everything());
}

TEST(TraceFilter, BadPatternsAreNamed) {
  for (const char* spec : {"", "  ", "0:", "x:attn_norm", "3-1:*", "0-:*", "-1:*", "1:attn_nrom",
                           "0:*,,1:*", "0-1-2:*", "*:logit"}) {
    try {
      (void)TraceFilter::parse(spec);
      ADD_FAILURE() << "accepted '" << spec << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::config);
      EXPECT_NE(std::string(e.what()).find("trace filter"), std::string::npos) << e.what();
    }
  }
}

TEST(TraceFilter, FromEnvironment) {
  ::unsetenv("BITNET_TRACE_FILTER");
  EXPECT_FALSE(TraceFilter::from_environment().has_value());
  ::setenv("BITNET_TRACE_FILTER", "2:ffn_*", 1);
  const auto f = TraceFilter::from_environment();
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(f->matches(2, Stage::ffn_gate));
  EXPECT_FALSE(f->matches(1, Stage::ffn_gate));
  ::setenv("BITNET_TRACE_FILTER", "nope", 1);
  EXPECT_THROW((void)TraceFilter::from_environment(), Error);
  ::unsetenv("BITNET_TRACE_FILTER");
}

// Two layers, the stages of each, two positions: what a tiny forward pass reports.
void record_run(TraceRecorder& recorder) {
  const std::vector<float> row(8 * 2, 0.5f);
  recorder.record({-1, Stage::embeddings, 0, 2, 8, row.data()});
  for (int layer = 0; layer < 2; ++layer) {
    for (Stage s :
         {Stage::attn_norm, Stage::q_proj, Stage::attn_out, Stage::ffn_out, Stage::layer_out}) {
      recorder.record({layer, s, 0, 2, 8, row.data()});
    }
  }
  recorder.record({-1, Stage::logits, 0, 2, 8, row.data()});
}

TEST(TraceFilter, RecorderKeepsOnlyMatchingRecordsAndSaysSo) {
  const auto dir = fresh_dir("trace_filter_recorder");
  {
    TraceRecorder recorder(dir, false, "run", TraceFilter::parse("1:attn_*,*:logits"));
    record_run(recorder);
    EXPECT_EQ(recorder.records_written(), 6);  // (1, attn_norm), (1, attn_out), logits: 2 rows each
  }
  const auto trace = Trace::load(dir / "run.jsonl");
  for (const auto& r : trace.records()) {
    const bool expected =
        (r.key.layer == 1 && (r.key.stage == Stage::attn_norm || r.key.stage == Stage::attn_out)) ||
        r.key.stage == Stage::logits;
    EXPECT_TRUE(expected) << "layer " << r.key.layer << " " << to_string(r.key.stage);
  }
  EXPECT_EQ(trace.records().size(), 6u);
  EXPECT_EQ(trace.filter().spec(), "1:attn_*,*:logits");
  EXPECT_TRUE(std::filesystem::exists(dir / "run.meta.json"));
}

TEST(TraceFilter, UnfilteredRunWritesNoMetaFile) {
  const auto dir = fresh_dir("trace_filter_none");
  {
    TraceRecorder recorder(dir, false, "run");
    record_run(recorder);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "run.meta.json"));
  EXPECT_TRUE(Trace::load(dir / "run.jsonl").filter().keeps_everything());
}

TEST(TraceFilter, TraceDiffReportsFilteredNotMissing) {
  const auto dir = fresh_dir("trace_filter_diff");
  {
    TraceRecorder full(dir / "full", false, "run");
    record_run(full);
    TraceRecorder part(dir / "part", false, "run", TraceFilter::parse("0:*"));
    record_run(part);
  }
  const auto a = Trace::load(dir / "part" / "run.jsonl");
  const auto b = Trace::load(dir / "full" / "run.jsonl");
  const auto diff = diff_traces(a, b, 1e-6);
  EXPECT_FALSE(diff.diverged());
  EXPECT_EQ(diff.totals[static_cast<int>(RecordStatus::identical)], 10);
  // layer 1's 5 stages x 2 positions, embeddings and logits: 14 records A chose not to keep.
  EXPECT_EQ(diff.totals[static_cast<int>(RecordStatus::filtered_in_a)], 14);
  EXPECT_EQ(diff.totals[static_cast<int>(RecordStatus::missing_in_a)], 0);
  EXPECT_EQ(diff.a.filter, "0:*");

  // The same traces without the meta file: the records are missing, a divergence.
  std::filesystem::remove(dir / "part" / "run.meta.json");
  const auto unfiltered = diff_traces(Trace::load(dir / "part" / "run.jsonl"), b, 1e-6);
  EXPECT_TRUE(unfiltered.diverged());
  EXPECT_EQ(unfiltered.totals[static_cast<int>(RecordStatus::filtered_in_a)], 0);
  EXPECT_GT(unfiltered.totals[static_cast<int>(RecordStatus::missing_in_a)], 0);
}

TEST(TraceFilter, MalformedMetaFileIsAnError) {
  const auto dir = fresh_dir("trace_filter_bad_meta");
  {
    TraceRecorder recorder(dir, false, "run", TraceFilter::parse("0:*"));
    record_run(recorder);
  }
  for (const char* text : {"{\"filter\": 3}", "not json", "{\"filter\": \"0:bogus\"}"}) {
    std::ofstream(dir / "run.meta.json") << text;
    try {
      (void)Trace::load(dir / "run.jsonl");
      ADD_FAILURE() << "accepted meta " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("run.meta.json"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace bitnet
