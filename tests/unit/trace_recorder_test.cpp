#include "trace/trace_recorder.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "bitnet/error.hpp"
#include "test_support.hpp"
#include "trace/blake3.hpp"
#include "trace_test_support.hpp"

namespace bitnet {
namespace {

using nlohmann::json;

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = test::scratch_dir() / name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::vector<json> read_records(const std::filesystem::path& jsonl) {
  std::vector<json> records;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
  return records;
}

std::vector<float> ramp(int64_t n, float start) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + 0.25f * static_cast<float>(i);
  return v;
}

TEST(TraceRecorder, WritesOneRecordPerRowWithHashAndRms) {
  const auto dir = fresh_dir("trace-rec-rows");
  const auto data = ramp(3 * 8, -2.0f);  // 3 positions of 8 values
  std::filesystem::path jsonl;
  {
    TraceRecorder rec(dir, /*save_data=*/false);
    jsonl = rec.jsonl_path();
    const auto observe = rec.observer();
    observe(StageTensor{-1, Stage::embeddings, 4, 3, 8, data.data()});
    observe(StageTensor{2, Stage::q_proj, 4, 3, 8, data.data()});
    EXPECT_EQ(rec.records_written(), 6);
    EXPECT_TRUE(rec.data_path().empty());
  }
  EXPECT_EQ(jsonl.parent_path(), dir);
  EXPECT_EQ(jsonl.filename().string().rfind("trace-", 0), 0u);
  const auto records = read_records(jsonl);
  ASSERT_EQ(records.size(), 6u);
  for (int row = 0; row < 3; ++row) {
    const json& r = records[static_cast<size_t>(3 + row)];
    EXPECT_EQ(r["seq"], 0);
    EXPECT_EQ(r["layer"], 2);
    EXPECT_EQ(r["stage"], "q_proj");
    EXPECT_EQ(r["pos"], 4 + row);
    EXPECT_EQ(r["shape"], json::array({8}));
    EXPECT_EQ(r["dtype"], "f32");
    const float* values = data.data() + row * 8;
    double sum = 0;
    for (int i = 0; i < 8; ++i) sum += double(values[i]) * values[i];
    EXPECT_NEAR(r["rms"].get<double>(), std::sqrt(sum / 8), 1e-7);
    EXPECT_EQ(r["blake3"], blake3_hex(values, 8 * sizeof(float)));
    EXPECT_FALSE(r.contains("data"));
  }
  EXPECT_EQ(records[0]["layer"], -1);
  EXPECT_EQ(records[0]["stage"], "embeddings");
}

TEST(TraceRecorder, EachEmbeddingsStartsTheNextEval) {
  const auto dir = fresh_dir("trace-rec-seq");
  const auto data = ramp(4, 1.0f);
  TraceRecorder rec(dir, false, "run");
  const auto observe = rec.observer();
  for (int64_t pos = 0; pos < 3; ++pos) {
    observe(StageTensor{-1, Stage::embeddings, pos, 1, 4, data.data()});
    observe(StageTensor{0, Stage::layer_out, pos, 1, 4, data.data()});
    observe(StageTensor{-1, Stage::logits, pos, 1, 4, data.data()});
  }
  rec.flush();
  const auto records = read_records(rec.jsonl_path());
  ASSERT_EQ(records.size(), 9u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["seq"], static_cast<int>(i / 3));
    EXPECT_EQ(records[i]["pos"], static_cast<int>(i / 3));
  }
  EXPECT_EQ(rec.jsonl_path(), dir / "run.jsonl");
}

TEST(TraceRecorder, ExplicitEvalsReplaceTheEmbeddingsRule) {
  const auto dir = fresh_dir("trace-rec-explicit");
  const auto data = ramp(4, 1.0f);
  TraceRecorder rec(dir, false, "run");
  // One eval whose prompt runs as two micro-batches (two embeddings), then one decode eval.
  rec.begin_eval();
  rec.record(StageTensor{-1, Stage::embeddings, 0, 1, 4, data.data()});
  rec.record(StageTensor{-1, Stage::embeddings, 1, 1, 4, data.data()});
  rec.begin_eval();
  rec.record(StageTensor{-1, Stage::embeddings, 2, 1, 4, data.data()});
  rec.flush();
  const auto records = read_records(rec.jsonl_path());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["seq"], 0);
  EXPECT_EQ(records[1]["seq"], 0);
  EXPECT_EQ(records[2]["seq"], 1);
}

TEST(TraceRecorder, SavesRawRowsWithOffsets) {
  const auto dir = fresh_dir("trace-rec-data");
  const auto a = ramp(2 * 5, 0.5f), b = ramp(1 * 3, -7.0f);
  std::filesystem::path jsonl, bin;
  {
    TraceRecorder rec(dir, /*save_data=*/true);
    jsonl = rec.jsonl_path();
    bin = rec.data_path();
    rec.record(StageTensor{-1, Stage::embeddings, 0, 2, 5, a.data()});
    rec.record(StageTensor{-1, Stage::logits, 1, 1, 3, b.data()});
  }
  EXPECT_EQ(bin.parent_path(), dir);
  EXPECT_EQ(bin.stem(), jsonl.stem());
  const std::string bytes = test::read_text(bin);
  ASSERT_EQ(bytes.size(), (10 + 3) * sizeof(float));
  const auto records = read_records(jsonl);
  ASSERT_EQ(records.size(), 3u);
  const std::vector<std::pair<const float*, int>> rows = {
      {a.data(), 5}, {a.data() + 5, 5}, {b.data(), 3}};
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(records[i]["data"], bin.filename().string());
    EXPECT_EQ(records[i]["offset"], expected_offset);
    const size_t n = static_cast<size_t>(rows[i].second) * sizeof(float);
    EXPECT_EQ(0, std::memcmp(bytes.data() + expected_offset, rows[i].first, n));
    expected_offset += n;
  }
}

TEST(TraceRecorder, RowHashEqualsB3sumOfTheRowBytes) {
  if (!test::b3sum_available()) GTEST_SKIP() << "b3sum not installed (Debian package b3sum)";
  const auto dir = fresh_dir("trace-rec-b3sum");
  const auto logits =
      ramp(128256, -3000.0f);  // one LLaMA-3 logits row: 501 KiB, a multi-level tree
  TraceRecorder rec(dir, /*save_data=*/true);
  rec.record(StageTensor{-1, Stage::logits, 0, 1, 128256, logits.data()});
  rec.flush();
  const auto records = read_records(rec.jsonl_path());
  ASSERT_EQ(records.size(), 1u);
  const auto hashes = test::b3sum_files({rec.data_path()}, dir);
  ASSERT_TRUE(hashes.has_value());
  EXPECT_EQ(records[0]["blake3"], hashes->at(0));
}

TEST(TraceRecorder, NonFiniteRowsHaveNullRms) {
  const auto dir = fresh_dir("trace-rec-nan");
  std::vector<float> v = {1.0f, NAN, INFINITY, 2.0f};
  TraceRecorder rec(dir, false);
  rec.record(StageTensor{0, Stage::attn_out, 0, 1, 4, v.data()});
  rec.flush();
  const auto records = read_records(rec.jsonl_path());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0]["rms"].is_null());
  EXPECT_EQ(records[0]["nonfinite"], 2);
}

TEST(TraceRecorder, RunsInOneDirectoryGetDistinctFiles) {
  const auto dir = fresh_dir("trace-rec-names");
  TraceRecorder first(dir, true), second(dir, true);
  EXPECT_NE(first.jsonl_path(), second.jsonl_path());
  EXPECT_NE(first.data_path(), second.data_path());
  TraceRecorder named(dir, false, "mine");
  EXPECT_THROW(TraceRecorder(dir, false, "mine"), Error);
  EXPECT_THROW(TraceRecorder(dir, false, "../escape"), Error);
}

TEST(TraceRecorder, UnwritableDirectoryIsAnIoError) {
  const auto dir = fresh_dir("trace-rec-blocked");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "file") << "x";
  try {
    TraceRecorder rec(dir / "file" / "sub", false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::io);
    EXPECT_NE(std::string(e.what()).find("file"), std::string::npos) << e.what();
  }
}

TEST(TraceRecorder, FromEnvironment) {
  const auto dir = fresh_dir("trace-rec-env");
  ::unsetenv("BITNET_TRACE_DIR");
  ::unsetenv("BITNET_TRACE_DATA");
  EXPECT_EQ(TraceRecorder::from_environment(), nullptr);
  ::setenv("BITNET_TRACE_DIR", "", 1);
  EXPECT_EQ(TraceRecorder::from_environment(), nullptr);

  ::setenv("BITNET_TRACE_DIR", dir.c_str(), 1);
  auto without_data = TraceRecorder::from_environment();
  ASSERT_NE(without_data, nullptr);
  EXPECT_EQ(without_data->jsonl_path().parent_path(), dir);
  EXPECT_TRUE(without_data->data_path().empty());

  ::setenv("BITNET_TRACE_DATA", "0", 1);
  EXPECT_TRUE(TraceRecorder::from_environment()->data_path().empty());
  ::setenv("BITNET_TRACE_DATA", "1", 1);
  EXPECT_FALSE(TraceRecorder::from_environment()->data_path().empty());

  // A --trace flag wins over BITNET_TRACE_DIR; BITNET_TRACE_DATA still adds data.
  const auto flag_dir = dir / "flag";
  auto flagged = TraceRecorder::from_flag_or_environment(flag_dir.string(), false);
  EXPECT_EQ(flagged->jsonl_path().parent_path(), flag_dir);
  EXPECT_FALSE(flagged->data_path().empty());
  ::unsetenv("BITNET_TRACE_DATA");
  EXPECT_TRUE(
      TraceRecorder::from_flag_or_environment(flag_dir.string(), false)->data_path().empty());
  EXPECT_FALSE(
      TraceRecorder::from_flag_or_environment(flag_dir.string(), true)->data_path().empty());
  EXPECT_EQ(TraceRecorder::from_flag_or_environment("", false)->jsonl_path().parent_path(), dir);
  ::unsetenv("BITNET_TRACE_DIR");
  EXPECT_EQ(TraceRecorder::from_flag_or_environment("", true), nullptr);
  ::unsetenv("BITNET_TRACE_DATA");
}

}  // namespace
}  // namespace bitnet
