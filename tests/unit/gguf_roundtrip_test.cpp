// GgufWriter -> GgufFile: every metadata value type (nested arrays included) and tensors of every
// layout come back exactly as written; lazily filled tensors are written in row-aligned chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"
#include "gguf/gguf_writer.hpp"
#include "quant/dequantize.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

using gguf::Array;
using gguf::GgufFile;
using gguf::GgufWriter;
using gguf::Value;
using gguf::ValueType;

std::string scratch(const std::string& name) {
  return (test::scratch_dir() / name).string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <typename T>
std::shared_ptr<Array> numeric_array(ValueType type, const std::vector<T>& values) {
  auto a = std::make_shared<Array>();
  a->element_type = type;
  a->size = values.size();
  a->raw = std::as_bytes(std::span(values));
  return a;
}

TEST(GgufRoundTrip, EveryScalarType) {
  GgufWriter w;
  w.add_u8("u8", 250);
  w.add_i8("i8", -120);
  w.add_u16("u16", 65000);
  w.add_i16("i16", -32000);
  w.add_u32("u32", 4000000000u);
  w.add_i32("i32", -2000000000);
  w.add_u64("u64", std::numeric_limits<uint64_t>::max());
  w.add_i64("i64", std::numeric_limits<int64_t>::min());
  w.add_f32("f32", 1e-5f);
  w.add_f64("f64", 0.1);
  w.add_bool("yes", true);
  w.add_bool("no", false);
  w.add_string("str", "héllo\n\0x");
  w.add_string("empty", "");
  const auto path = scratch("scalars.gguf");
  w.write(path);

  const auto f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.metadata().size(), 14u);
  EXPECT_EQ(f.metadata()[0].first, "u8");  // insertion order is kept
  EXPECT_EQ(f.get("u8").type(), ValueType::UINT8);
  EXPECT_EQ(f.get("u8").as_u64(), 250u);
  EXPECT_EQ(f.get("i8").type(), ValueType::INT8);
  EXPECT_EQ(f.get("i8").as_i64(), -120);
  EXPECT_EQ(f.get("u16").as_u64(), 65000u);
  EXPECT_EQ(f.get("i16").as_i64(), -32000);
  EXPECT_EQ(f.get("u32").type(), ValueType::UINT32);
  EXPECT_EQ(f.get("u32").as_u64(), 4000000000u);
  EXPECT_EQ(f.get("i32").as_i64(), -2000000000);
  EXPECT_EQ(f.get("u64").as_u64(), std::numeric_limits<uint64_t>::max());
  EXPECT_THROW((void)f.get("u64").as_i64(), Error);  // does not fit
  EXPECT_EQ(f.get("i64").as_i64(), std::numeric_limits<int64_t>::min());
  EXPECT_THROW((void)f.get("i64").as_u64(), Error);  // negative
  EXPECT_EQ(f.get("f32").type(), ValueType::FLOAT32);
  EXPECT_EQ(f.get("f32").as_f64(), static_cast<double>(1e-5f));
  EXPECT_EQ(f.get("f64").as_f64(), 0.1);
  EXPECT_EQ(f.get_bool("yes"), true);
  EXPECT_EQ(f.get_bool("no"), false);
  EXPECT_EQ(f.get_string("str"), "héllo\n");  // a C string literal stops at its NUL
  EXPECT_EQ(f.get_string("empty"), "");
  EXPECT_THROW((void)f.get("str").as_f64(), Error);
  EXPECT_FALSE(f.get_u64("absent").has_value());
}

TEST(GgufRoundTrip, ArraysOfEveryTypeAndNestedArrays) {
  const std::vector<uint8_t> u8s{0, 1, 255};
  const std::vector<int8_t> i8s{-128, 0, 127};
  const std::vector<uint16_t> u16s{1, 65535};
  const std::vector<int16_t> i16s{-32768, 7};
  const std::vector<uint32_t> u32s{7, 4000000000u};
  const std::vector<int32_t> i32s{-1, 2, -3};
  const std::vector<uint64_t> u64s{uint64_t{1} << 63};
  const std::vector<int64_t> i64s{-(int64_t{1} << 62), 5};
  const std::vector<float> f32s{1.5f, -0.0f, 3e38f};
  const std::vector<double> f64s{1e-300, 2.5};
  const std::vector<uint8_t> bools{1, 0, 1};
  const std::vector<int32_t> empty;

  // [[1, 2, 3], ["a", "bc"], [[-1, 2], []]] — arrays of arrays, of mixed element types.
  auto strings = std::make_shared<Array>();
  strings->element_type = ValueType::STRING;
  strings->size = 2;
  strings->strings = {"a", "bc"};
  const std::vector<int32_t> pair_storage{-1, 2};
  auto inner_pair = numeric_array(ValueType::INT32, pair_storage);
  auto deepest = std::make_shared<Array>();
  deepest->element_type = ValueType::ARRAY;
  deepest->size = 2;
  deepest->nested = {Value::from_array(inner_pair),
                     Value::from_array(numeric_array(ValueType::INT32, empty))};
  auto nested = std::make_shared<Array>();
  nested->element_type = ValueType::ARRAY;
  nested->size = 3;
  const std::vector<int32_t> first{1, 2, 3};
  nested->nested = {Value::from_array(numeric_array(ValueType::INT32, first)),
                    Value::from_array(strings), Value::from_array(deepest)};

  GgufWriter w;
  w.copy_key("a.u8", Value::from_array(numeric_array(ValueType::UINT8, u8s)));
  w.copy_key("a.i8", Value::from_array(numeric_array(ValueType::INT8, i8s)));
  w.copy_key("a.u16", Value::from_array(numeric_array(ValueType::UINT16, u16s)));
  w.copy_key("a.i16", Value::from_array(numeric_array(ValueType::INT16, i16s)));
  w.copy_key("a.u32", Value::from_array(numeric_array(ValueType::UINT32, u32s)));
  w.copy_key("a.i32", Value::from_array(numeric_array(ValueType::INT32, i32s)));
  w.copy_key("a.u64", Value::from_array(numeric_array(ValueType::UINT64, u64s)));
  w.copy_key("a.i64", Value::from_array(numeric_array(ValueType::INT64, i64s)));
  w.copy_key("a.f32", Value::from_array(numeric_array(ValueType::FLOAT32, f32s)));
  w.copy_key("a.f64", Value::from_array(numeric_array(ValueType::FLOAT64, f64s)));
  w.copy_key("a.bool", Value::from_array(numeric_array(ValueType::BOOL, bools)));
  w.copy_key("a.empty", Value::from_array(numeric_array(ValueType::INT32, empty)));
  w.add_string_array("a.str", {"x", "", "yz"});
  w.add_f32_array("a.f32b", {0.25f});
  w.add_i32_array("a.i32b", {-7});
  w.copy_key("a.nested", Value::from_array(nested));
  EXPECT_THROW(w.add_u32("a.u8", 1), Error);  // duplicate key
  const auto path = scratch("arrays.gguf");
  w.write(path);

  const auto f = GgufFile::open(path);
  const auto check = [&](const char* key, ValueType type, uint64_t size) -> const Array& {
    const auto& a = f.get(key).as_array();
    EXPECT_EQ(a.element_type, type) << key;
    EXPECT_EQ(a.size, size) << key;
    return a;
  };
  EXPECT_EQ(check("a.u8", ValueType::UINT8, 3).numeric_at<uint8_t>(2), 255);
  EXPECT_EQ(check("a.i8", ValueType::INT8, 3).numeric_at<int8_t>(0), -128);
  EXPECT_EQ(check("a.u16", ValueType::UINT16, 2).numeric_at<uint16_t>(1), 65535);
  EXPECT_EQ(check("a.i16", ValueType::INT16, 2).at(0).as_i64(), -32768);
  EXPECT_EQ(check("a.u32", ValueType::UINT32, 2).at(1).as_u64(), 4000000000u);
  EXPECT_EQ(check("a.i32", ValueType::INT32, 3).numeric_at<int32_t>(2), -3);
  EXPECT_EQ(check("a.u64", ValueType::UINT64, 1).numeric_at<uint64_t>(0), uint64_t{1} << 63);
  EXPECT_EQ(check("a.i64", ValueType::INT64, 2).at(0).as_i64(), -(int64_t{1} << 62));
  EXPECT_EQ(check("a.f32", ValueType::FLOAT32, 3).numeric_at<float>(2), 3e38f);
  EXPECT_TRUE(std::signbit(check("a.f32", ValueType::FLOAT32, 3).numeric_at<float>(1)));
  EXPECT_EQ(check("a.f64", ValueType::FLOAT64, 2).numeric_at<double>(0), 1e-300);
  EXPECT_EQ(check("a.bool", ValueType::BOOL, 3).at(1).as_bool(), false);
  EXPECT_EQ(check("a.bool", ValueType::BOOL, 3).at(2).as_bool(), true);
  check("a.empty", ValueType::INT32, 0);
  const auto& s = check("a.str", ValueType::STRING, 3);
  EXPECT_EQ(s.strings[1], "");
  EXPECT_EQ(s.at(2).as_string(), "yz");
  EXPECT_EQ(check("a.f32b", ValueType::FLOAT32, 1).numeric_at<float>(0), 0.25f);
  EXPECT_EQ(check("a.i32b", ValueType::INT32, 1).numeric_at<int32_t>(0), -7);
  EXPECT_THROW((void)s.at(3), Error);
  EXPECT_THROW((void)check("a.u8", ValueType::UINT8, 3).numeric_at<uint32_t>(0),
               Error);  // wrong width

  const auto& n = check("a.nested", ValueType::ARRAY, 3);
  const auto& n0 = n.at(0).as_array();
  EXPECT_EQ(n0.element_type, ValueType::INT32);
  EXPECT_EQ(n0.numeric_at<int32_t>(2), 3);
  EXPECT_EQ(n.at(1).as_array().strings[1], "bc");
  const auto& n2 = n.at(2).as_array();
  ASSERT_EQ(n2.size, 2u);
  EXPECT_EQ(n2.at(0).as_array().numeric_at<int32_t>(0), -1);
  EXPECT_EQ(n2.at(1).as_array().size, 0u);

  // Copying every key of the file into a new one reproduces the metadata byte for byte.
  GgufWriter copy;
  for (const auto& [key, value] : f.metadata()) copy.copy_key(key, value);
  const auto copy_path = scratch("arrays-copy.gguf");
  copy.write(copy_path);
  EXPECT_EQ(read_bytes(copy_path), read_bytes(path));
}

TEST(GgufRoundTrip, TensorsKeepBytesShapesAndAlignment) {
  GgufWriter w(64);
  std::vector<uint8_t> f32(4 * 3 * 5);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<uint8_t>(i * 7);
  std::vector<uint8_t> tq2(66 * 2);
  for (size_t i = 0; i < tq2.size(); ++i) tq2[i] = static_cast<uint8_t>(i * 13 + 1);
  std::vector<uint8_t> i2s(256 / 4 + 32, 0x55);
  w.add_tensor("a", TensorType::F32, {3, 5}, f32);
  w.add_tensor("b", TensorType::TQ2_0, {256, 2}, tq2);
  w.add_tensor("c", TensorType::I2_S, {128, 2}, i2s);
  w.add_tensor("d", TensorType::F16, {2, 2, 2, 2}, std::vector<uint8_t>(32, 3));
  EXPECT_THROW(w.add_tensor("a", TensorType::F32, {1}, std::vector<uint8_t>(4)),
               Error);  // duplicate
  EXPECT_THROW(w.add_tensor("e", TensorType::F32, {2}, std::vector<uint8_t>(4)),
               Error);  // wrong size
  EXPECT_THROW(w.add_tensor("e", TensorType::TQ1_0, {100}, std::vector<uint8_t>(54)),
               Error);  // not a block
  EXPECT_THROW(w.add_tensor("e", TensorType::F32, {int64_t{1} << 62, 8}, {}), Error);  // overflows
  const auto path = scratch("tensors.gguf");
  w.write(path);

  const auto f = GgufFile::open(path);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.get_u64("general.alignment"), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  ASSERT_EQ(f.tensors().size(), 4u);
  const auto& a = f.tensor("a");
  EXPECT_EQ(a.n_dims, 2u);
  EXPECT_EQ(a.shape_string(), "[3, 5]");
  EXPECT_EQ(a.rows(), 5);
  EXPECT_EQ(std::memcmp(a.data, f32.data(), f32.size()), 0);
  EXPECT_EQ(f.tensor("b").type, TensorType::TQ2_0);
  EXPECT_EQ(std::memcmp(f.tensor("b").data, tq2.data(), tq2.size()), 0);
  EXPECT_EQ(f.tensor("c").nbytes, 96);
  EXPECT_EQ(std::memcmp(f.tensor("c").data, i2s.data(), i2s.size()), 0);
  EXPECT_EQ(f.tensor("d").shape_string(), "[2, 2, 2, 2]");
  for (const auto& t : f.tensors()) EXPECT_EQ(t.offset % 64, 0u) << t.name;
}

TEST(GgufRoundTrip, LazyTensorsAreFilledInRowAlignedChunks) {
  GgufWriter w;
  w.set_chunk_bytes(20);  // smaller than a row (32 bytes): one row per chunk
  struct Call {
    int64_t offset, nbytes;
  };
  auto calls = std::make_shared<std::vector<Call>>();
  const int64_t k = 128, rows = 7, nbytes = k / 4 * rows + 32;
  w.add_tensor_lazy("w", TensorType::I2_S, {k, rows},
                    [calls](uint8_t* dst, int64_t offset, int64_t n) {
                      calls->push_back({offset, n});
                      for (int64_t i = 0; i < n; ++i)
                        dst[i] = static_cast<uint8_t>((offset + i) * 31);
                    });
  std::vector<uint64_t> progress;
  const auto path = scratch("lazy.gguf");
  w.write(path, [&](uint64_t done, uint64_t total) {
    EXPECT_LE(done, total);
    progress.push_back(done);
  });
  ASSERT_EQ(calls->size(), 7u);
  int64_t expect_at = 0;
  for (const auto& c : *calls) {
    EXPECT_EQ(c.offset, expect_at);
    EXPECT_EQ(c.offset % 32, 0);
    expect_at += c.nbytes;
  }
  EXPECT_EQ(calls->back().nbytes, 32 + 32);  // the last row and the scale trailer
  EXPECT_EQ(expect_at, nbytes);
  EXPECT_FALSE(progress.empty());
  const auto f = GgufFile::open(path);
  EXPECT_EQ(progress.back(), f.file_size());
  const auto* data = reinterpret_cast<const uint8_t*>(f.tensor("w").data);
  for (int64_t i = 0; i < nbytes; ++i) ASSERT_EQ(data[i], static_cast<uint8_t>(i * 31)) << i;
}

TEST(GgufRoundTrip, FailedWriteLeavesNothingBehind) {
  GgufWriter w;
  w.add_tensor_lazy("w", TensorType::F32, {4}, [](uint8_t*, int64_t, int64_t) {
    throw Error(ErrorCategory::internal, "generator failed");
  });
  const auto path = scratch("failed.gguf");
  EXPECT_THROW(w.write(path), Error);
  EXPECT_THROW(w.write("/nonexistent-dir/x.gguf"), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

}  // namespace
}  // namespace bitnet
