// The safetensors reader: values of every dtype, sharded checkpoints, and hand-made bad files —
// each must raise bitnet::Error naming the file, the tensor and the offset, never crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "convert/safetensors.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

using convert::Checkpoint;
using convert::SafetensorsFile;
using convert::StDtype;

// A safetensors image: header JSON (as given) and the data bytes.
std::vector<std::byte> image(const std::string& header, const std::vector<uint8_t>& data,
                             int64_t header_len_override = -1) {
  std::vector<std::byte> out(8);
  const uint64_t n =
      header_len_override >= 0 ? static_cast<uint64_t>(header_len_override) : header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  for (uint8_t b : data) out.push_back(static_cast<std::byte>(b));
  return out;
}

std::string error_of(const std::vector<std::byte>& bytes) {
  try {
    (void)SafetensorsFile::parse(bytes, "t.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void write_file(const std::filesystem::path& p, const std::vector<std::byte>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

TEST(Safetensors, ReadsEveryDtype) {
  // bf16 1.5 = 0x3FC0, f16 -2 = 0xC000, f32 0.25, u8 200, i8 -3
  const std::vector<uint8_t> data = {0xC0, 0x3F, 0x00, 0xC0, 0, 0, 0x80, 0x3E, 200, 0xFD};
  const std::string h = R"({"__metadata__":{"format":"pt"},)"
                        R"("a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
                        R"("b":{"dtype":"F16","shape":[1],"data_offsets":[2,4]},)"
                        R"("c":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]},)"
                        R"("d":{"dtype":"U8","shape":[1],"data_offsets":[8,9]},)"
                        R"("e":{"dtype":"I8","shape":[1],"data_offsets":[9,10]},)"
                        R"("z":{"dtype":"F32","shape":[0],"data_offsets":[10,10]}})";
  const auto bytes = image(h, data);
  const auto f = SafetensorsFile::parse(bytes, "t.safetensors");
  ASSERT_EQ(f.tensors().size(), 6u);
  EXPECT_EQ(f.find("a")->value_f32(0), 1.5f);
  EXPECT_EQ(f.find("b")->value_f32(0), -2.0f);
  EXPECT_EQ(f.find("c")->value_f32(0), 0.25f);
  EXPECT_EQ(f.find("c")->shape_string(), "[1, 1]");
  EXPECT_EQ(f.find("d")->value_f32(0), 200.0f);
  EXPECT_EQ(f.find("e")->value_f32(0), -3.0f);
  EXPECT_EQ(f.find("e")->dtype, StDtype::I8);
  EXPECT_EQ(f.find("z")->n_elements, 0);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("d")->file_offset, 8 + h.size() + 8);
}

TEST(Safetensors, FixtureCheckpointsOpen) {
  const auto dir = test::fixtures_dir() / "hf";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no fixtures/hf";
  const auto c = Checkpoint::open_dir((dir / "bitnet-b158-packed").string());
  const auto& q = c.require("model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(q.dtype, StDtype::U8);
  EXPECT_EQ(q.shape_string(), "[64, 256]");
  EXPECT_EQ(c.require("model.layers.0.self_attn.q_proj.weight_scale").dtype, StDtype::BF16);
}

struct BadCase {
  const char* what;
  std::vector<std::byte> bytes;
  const char* expect;
};

TEST(Safetensors, BadFilesNameFileTensorAndOffset) {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::vector<uint8_t> eight(8, 0);
  const std::vector<BadCase> cases = {
      {"shorter than 8 bytes", {std::byte{1}, std::byte{0}}, "offset 0: file is 2 bytes"},
      {"header length past the end", image(ok, eight, 1000),
       "offset 0: header length 1000 runs past"},
      {"huge header length", image(ok, eight, int64_t{1} << 40), "runs past the end"},
      {"not JSON", image("{nope", eight), "invalid JSON header"},
      {"number beyond double (fuzz crash)", image(R"({"w":1e50628})", eight),
       "offset 8: invalid JSON header"},
      {"not an object", image("[1, 2]", eight), "offset 8: the header is not a JSON object"},
      {"truncated data", image(ok, {0, 0, 0, 0}),
       "tensor 'w': data [0, 8) runs past the end of the file"},
      {"unknown dtype", image(R"({"w":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", eight),
       "tensor 'w': unknown dtype 'Q9' (supported: BF16, F16, F32, U8, I8)"},
      {"unsupported dtype",
       image(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", eight),
       "tensor 'w': unsupported dtype 'F64'"},
      {"size mismatch", image(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight),
       "tensor 'w': data_offsets [0, 8) hold 8 bytes, but shape [3] of F32 needs 12"},
      {"reversed offsets",
       image(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight),
       "end before they begin"},
      {"negative shape", image(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
       "tensor 'w': shape [-2] holds a non-integer or negative"},
      {"missing dtype", image(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", eight),
       "tensor 'w': missing or non-string 'dtype'"},
      {"bad offsets", image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight),
       "'data_offsets' must be an array [begin, end]"},
      {"overlap",
       image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
             eight),
       "overlaps tensor 'a' ["},
      {"duplicate",
       image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
             R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
             eight),
       "tensor 'a' is listed twice"},
      {"overflowing shape",
       image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
             eight),
       "overflows"},
      {"metadata not strings", image(R"({"__metadata__":{"a":1}})", eight),
       "__metadata__ value 'a' is not a string"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(c.bytes);
    EXPECT_NE(msg.find("t.safetensors: "), std::string::npos) << c.what << ": " << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
  }
}

TEST(Safetensors, EveryTruncationIsAnErrorNotACrash) {
  const std::string h = R"({"w":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})";
  const auto full = image(h, std::vector<uint8_t>(8, 1));
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW((void)SafetensorsFile::parse(cut, "t"), Error) << "cut at " << n;
  }
  EXPECT_NO_THROW((void)SafetensorsFile::parse(full, "t"));
}

TEST(Safetensors, ShardedCheckpoint) {
  const auto dir = test::scratch_dir() / "sharded";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  write_file(dir / "model-00001-of-00002.safetensors",
             image(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", {7, 8}));
  write_file(dir / "model-00002-of-00002.safetensors",
             image(R"({"b":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})", {0xFF}));
  const auto write_index = [&](const std::string& map) {
    std::ofstream(dir / "model.safetensors.index.json")
        << R"({"metadata":{},"weight_map":)" << map << "}";
  };
  write_index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"})");
  const auto c = Checkpoint::open_dir(dir.string());
  EXPECT_EQ(c.require("a").value_f32(1), 8.0f);
  EXPECT_EQ(c.require("b").value_f32(0), -1.0f);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b"}));
  try {
    (void)c.require("c");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'c' is missing"), std::string::npos) << e.what();
  }

  const auto expect_error = [&](const std::string& map, const std::string& want) {
    write_index(map);
    try {
      (void)Checkpoint::open_dir(dir.string());
      ADD_FAILURE() << "no error for " << map;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  expect_error(R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors"})",
               "tensor 'b' is listed in model.safetensors.index.json but missing from this shard");
  write_file(dir / "extra.safetensors",
             image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                   R"("c":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                   {1, 2}));
  expect_error(R"({"a":"extra.safetensors"})",
               "tensor 'c' is not listed in model.safetensors.index.json");
  expect_error(R"({"a":"extra.safetensors","b":"model-00002-of-00002.safetensors",)"
               R"("c":"model-00001-of-00002.safetensors"})",
               "missing from this shard");
  expect_error(R"({"a":"../x.safetensors"})", "which is not a file in the checkpoint folder");
  expect_error(R"({"a":"model-00003-of-00002.safetensors"})", "cannot open");
}

}  // namespace
}  // namespace bitnet
