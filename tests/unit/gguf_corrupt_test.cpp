// Hand-made corrupt GGUF files: each must raise bitnet::Error whose message names the file, the
// byte offset of the bad field and what is wrong — never crash, hang or allocate without bound.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"
#include "gguf/gguf_writer.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

using gguf::GgufFile;
using gguf::ValueType;

// Little-endian byte builder; at() is the offset the next field will have.
class Bytes {
 public:
  size_t at() const { return data_.size(); }
  template <typename T>
  Bytes& put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    data_.insert(data_.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    for (char c : s) data_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return u32(gguf::kMagic).u32(version).u64(n_tensors).u64(n_kv);
  }
  Bytes& kv_u32(std::string_view key, uint32_t v) {
    return str(key).u32(static_cast<uint32_t>(ValueType::UINT32)).u32(v);
  }
  Bytes& kv_str(std::string_view key, std::string_view v) {
    return str(key).u32(static_cast<uint32_t>(ValueType::STRING)).str(v);
  }
  // A tensor info; returns the offset of its data-offset field through `offset_at`.
  Bytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                size_t* offset_at = nullptr) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (auto d : ne) u64(d);
    u32(type);
    if (offset_at != nullptr) *offset_at = at();
    return u64(offset);
  }
  Bytes& pad_to(size_t align) {
    while (data_.size() % align != 0) data_.push_back(std::byte{0});
    return *this;
  }
  Bytes& zeros(size_t n) {
    data_.insert(data_.end(), n, std::byte{0});
    return *this;
  }
  Bytes& truncate(size_t n) {
    data_.resize(n);
    return *this;
  }
  std::span<const std::byte> span() const { return data_; }

 private:
  std::vector<std::byte> data_;
};

// Parses `bytes` expecting a model error at `offset` whose message contains `what`.
void expect_corrupt(const Bytes& bytes, size_t offset, const std::string& what) {
  try {
    (void)GgufFile::parse(bytes.span(), "corrupt.gguf");
    ADD_FAILURE() << "parsed without error; expected offset " << offset << ": " << what;
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::model);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("corrupt.gguf: "), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset " + std::to_string(offset) + ": "), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

constexpr uint32_t kF32 = 0;
constexpr uint32_t kTq2 = 35;

TEST(GgufCorrupt, EmptyFile) {
  expect_corrupt(Bytes{}, 0, "too small for the GGUF magic");
}

TEST(GgufCorrupt, BadMagic) {
  expect_corrupt(Bytes{}.u32(0x4c4d4747).u32(3).u64(0).u64(0), 0, "bad magic");
}

TEST(GgufCorrupt, VersionOne) {
  expect_corrupt(Bytes{}.header(0, 0, 1), 4, "GGUF version 1 is not supported");
}

TEST(GgufCorrupt, FutureVersion) {
  expect_corrupt(Bytes{}.header(0, 0, 7), 4, "unsupported GGUF version 7");
}

TEST(GgufCorrupt, TruncatedHeader) {
  expect_corrupt(Bytes{}.u32(gguf::kMagic).u32(3).u32(0), 8,
                 "truncated: tensor count needs 8 bytes, 4 remain");
}

TEST(GgufCorrupt, TensorCountLargerThanFile) {
  expect_corrupt(Bytes{}.header(uint64_t{1} << 40, 0), 8, "tensor count 1099511627776 exceeds");
}

TEST(GgufCorrupt, MetadataCountLargerThanFile) {
  expect_corrupt(Bytes{}.header(0, ~uint64_t{0}), 16,
                 "metadata count 18446744073709551615 exceeds");
}

TEST(GgufCorrupt, KeyLengthLies) {
  Bytes b;
  b.header(0, 1).u64(1000).u32(4).u32(7);
  expect_corrupt(b, 24, "metadata key: string length 1000 exceeds the 8 bytes that remain");
}

TEST(GgufCorrupt, EmptyKey) {
  expect_corrupt(Bytes{}.header(0, 1).str("").u32(4).u32(1), 24, "empty metadata key");
}

TEST(GgufCorrupt, DuplicateKey) {
  Bytes b;
  b.header(0, 2).kv_u32("a.b", 1);
  const size_t second = b.at();
  b.kv_u32("a.b", 2);
  expect_corrupt(b, second, "duplicate metadata key 'a.b'");
}

TEST(GgufCorrupt, UnknownValueType) {
  Bytes b;
  b.header(0, 1).str("k");
  const size_t type_at = b.at();
  b.u32(13).u32(0);
  expect_corrupt(b, type_at, "type of 'k': unknown value type 13");
}

TEST(GgufCorrupt, BoolIsNeitherZeroNorOne) {
  Bytes b;
  b.header(0, 1).str("flag").u32(static_cast<uint32_t>(ValueType::BOOL));
  const size_t value_at = b.at();
  b.u8(2);
  expect_corrupt(b, value_at, "flag: bool value 2 is neither 0 nor 1");
}

TEST(GgufCorrupt, StringValueLengthLies) {
  Bytes b;
  b.header(0, 1).str("general.name").u32(static_cast<uint32_t>(ValueType::STRING));
  const size_t len_at = b.at();
  b.u64(uint64_t{1} << 63).u32(0);
  expect_corrupt(b, len_at, "string length 9223372036854775808 exceeds the 4 bytes that remain");
}

TEST(GgufCorrupt, ArrayLengthLies) {
  Bytes b;
  b.header(0, 1)
      .str("arr")
      .u32(static_cast<uint32_t>(ValueType::ARRAY))
      .u32(static_cast<uint32_t>(ValueType::UINT32));
  const size_t count_at = b.at();
  b.u64(uint64_t{1} << 61).u32(1).u32(2);
  expect_corrupt(b, count_at,
                 "arr: array length 2305843009213693952 exceeds the 8 bytes that remain");
}

TEST(GgufCorrupt, StringArrayLengthLies) {
  Bytes b;
  b.header(0, 1)
      .str("toks")
      .u32(static_cast<uint32_t>(ValueType::ARRAY))
      .u32(static_cast<uint32_t>(ValueType::STRING));
  const size_t count_at = b.at();
  b.u64(1000).str("a").str("b");
  expect_corrupt(b, count_at, "toks: array length 1000 exceeds");
}

TEST(GgufCorrupt, ArraysNestedTooDeep) {
  Bytes b;
  b.header(0, 1).str("deep").u32(static_cast<uint32_t>(ValueType::ARRAY));
  std::vector<size_t> levels;
  for (int i = 0; i < 12; ++i) {
    levels.push_back(b.at());
    b.u32(static_cast<uint32_t>(ValueType::ARRAY)).u64(1);
  }
  b.u32(static_cast<uint32_t>(ValueType::UINT8)).u64(0);
  // The value is array level 1; the error points at the element type of level 8, whose element
  // (level 9) is one level too deep.
  expect_corrupt(b, levels[7], "deep: arrays nested deeper than 8");
}

TEST(GgufCorrupt, TooManyNestedArrays) {
  const uint64_t n = (uint64_t{1} << 20) + 1;
  Bytes b;
  b.header(0, 1)
      .str("many")
      .u32(static_cast<uint32_t>(ValueType::ARRAY))
      .u32(static_cast<uint32_t>(ValueType::ARRAY));
  const size_t count_at = b.at();
  b.u64(n).zeros(n * 12);
  expect_corrupt(b, count_at, "many: more than 1048576 nested arrays in the file");
}

TEST(GgufCorrupt, UnknownArrayElementType) {
  Bytes b;
  b.header(0, 1).str("arr").u32(static_cast<uint32_t>(ValueType::ARRAY));
  const size_t elem_type_at = b.at();
  b.u32(42).u64(0);
  expect_corrupt(b, elem_type_at, "arr (array element type): unknown value type 42");
}

TEST(GgufCorrupt, BoolArrayElementInvalid) {
  Bytes b;
  b.header(0, 1)
      .str("bools")
      .u32(static_cast<uint32_t>(ValueType::ARRAY))
      .u32(static_cast<uint32_t>(ValueType::BOOL))
      .u64(3);
  const size_t elems_at = b.at();
  b.u8(1).u8(0).u8(9);
  expect_corrupt(b, elems_at, "bools: bool array element is neither 0 nor 1");
}

TEST(GgufCorrupt, AlignmentWrongType) {
  Bytes b;
  b.header(0, 1).str("general.alignment");
  const size_t type_at = b.at();
  b.u32(static_cast<uint32_t>(ValueType::UINT64)).u64(32);
  expect_corrupt(b, type_at, "general.alignment must be a u32, not u64");
}

TEST(GgufCorrupt, AlignmentNotPowerOfTwo) {
  Bytes b;
  b.header(0, 1).str("general.alignment");
  const size_t type_at = b.at();
  b.u32(static_cast<uint32_t>(ValueType::UINT32)).u32(48);
  expect_corrupt(b, type_at, "general.alignment 48 is not a power of two");
}

TEST(GgufCorrupt, AlignmentZero) {
  Bytes b;
  b.header(0, 1).str("general.alignment");
  const size_t type_at = b.at();
  b.u32(static_cast<uint32_t>(ValueType::UINT32)).u32(0);
  expect_corrupt(b, type_at, "general.alignment 0 is not a power of two");
}

TEST(GgufCorrupt, EmptyTensorName) {
  Bytes b;
  b.header(1, 0);
  const size_t name_at = b.at();
  b.tensor("", {32}, kF32, 0).pad_to(32).zeros(128);
  expect_corrupt(b, name_at, "empty tensor name");
}

TEST(GgufCorrupt, TensorNameLengthLies) {
  Bytes b;
  b.header(1, 0);
  const size_t name_at = b.at();
  b.u64(5000).zeros(40);
  expect_corrupt(b, name_at, "tensor name: string length 5000 exceeds the 40 bytes that remain");
}

TEST(GgufCorrupt, ZeroDimensions) {
  Bytes b;
  b.header(1, 0).str("t");
  const size_t dims_at = b.at();
  b.u32(0).u32(kF32).u64(0).zeros(32);
  expect_corrupt(b, dims_at, "tensor 't': 0 dimensions (1 to 4 allowed)");
}

TEST(GgufCorrupt, TooManyDimensions) {
  Bytes b;
  b.header(1, 0).str("t");
  const size_t dims_at = b.at();
  b.u32(5).zeros(80);
  expect_corrupt(b, dims_at, "tensor 't': 5 dimensions (1 to 4 allowed)");
}

TEST(GgufCorrupt, ZeroSizedDimension) {
  Bytes b;
  b.header(1, 0).str("t").u32(2).u64(32);
  const size_t dim_at = b.at();
  b.u64(0).u32(kF32).u64(0).zeros(32);
  expect_corrupt(b, dim_at, "tensor 't': dimension 1 is 0");
}

TEST(GgufCorrupt, DimensionsOverflow) {
  Bytes b;
  b.header(1, 0).str("t").u32(3).u64(uint64_t{1} << 31).u64(uint64_t{1} << 31);
  const size_t third_at = b.at();
  b.u64(4).u32(kF32).u64(0).zeros(32);
  expect_corrupt(b, third_at, "tensor 't': element count overflows");
}

TEST(GgufCorrupt, ByteSizeOverflows) {
  Bytes b;
  b.header(1, 0).str("t").u32(1).u64(uint64_t{1} << 62);
  const size_t type_at = b.at();
  b.u32(kF32).u64(0).zeros(32);
  expect_corrupt(b, type_at, "tensor 't': byte size of 4611686018427387904 F32 values overflows");
}

TEST(GgufCorrupt, UnknownTensorType) {
  Bytes b;
  b.header(1, 0).str("t").u32(1).u64(32);
  const size_t type_at = b.at();
  b.u32(99).u64(0).zeros(32);
  expect_corrupt(b, type_at, "tensor 't': unknown tensor type 99");
}

TEST(GgufCorrupt, RowNotAMultipleOfTheBlock) {
  Bytes b;
  b.header(1, 0).str("blk.0.attn_q.weight").u32(2).u64(100).u64(4);
  const size_t type_at = b.at();
  b.u32(kTq2).u64(0).zeros(300);
  expect_corrupt(b, type_at, "row length 100 is not a multiple of the TQ2_0 block of 256");
}

TEST(GgufCorrupt, TruncatedTensorInfo) {
  Bytes b;
  b.header(1, 1).kv_str("general.name", std::string(40, 'x')).str("t").u32(2).u64(32);
  expect_corrupt(b, b.at(), "truncated: tensor dimension needs 8 bytes, 0 remain");
}

TEST(GgufCorrupt, DataSectionPastEndOfFile) {
  Bytes b;
  b.header(1, 0).tensor("t", {8}, kF32, 0);
  expect_corrupt(b, b.at(), "data section starts at 64, past the end of the file");
}

TEST(GgufCorrupt, TensorOffsetPastEndOfFile) {
  Bytes b;
  size_t offset_at = 0;
  b.header(1, 0).tensor("t", {8}, kF32, 4096, &offset_at).pad_to(32).zeros(32);
  expect_corrupt(b, offset_at,
                 "tensor 't': data [4096, +32) lies past the end of the file (96 bytes)");
}

TEST(GgufCorrupt, TensorDataTruncated) {
  Bytes b;
  size_t offset_at = 0;
  b.header(1, 0).tensor("t", {64}, kF32, 0, &offset_at).pad_to(32).zeros(100);
  expect_corrupt(b, offset_at, "tensor 't': data [0, +256) lies past the end of the file");
}

TEST(GgufCorrupt, TensorOffsetPlusSizeOverflows) {
  Bytes b;
  size_t offset_at = 0;
  b.header(1, 0).tensor("t", {8}, kF32, ~uint64_t{31}, &offset_at).pad_to(32).zeros(32);
  expect_corrupt(b, offset_at, "lies past the end of the file");
}

TEST(GgufCorrupt, MisalignedTensorOffset) {
  Bytes b;
  size_t offset_at = 0;
  b.header(1, 0).tensor("t", {8}, kF32, 4, &offset_at).pad_to(32).zeros(64);
  expect_corrupt(b, offset_at, "tensor 't': offset 4 is not a multiple of the alignment 32");
}

TEST(GgufCorrupt, MisalignedForCustomAlignment) {
  Bytes b;
  size_t offset_at = 0;
  b.header(2, 1).kv_u32("general.alignment", 64);
  b.tensor("a", {8}, kF32, 0).tensor("b", {8}, kF32, 32, &offset_at).pad_to(64).zeros(128);
  expect_corrupt(b, offset_at, "tensor 'b': offset 32 is not a multiple of the alignment 64");
}

TEST(GgufCorrupt, DuplicateTensorName) {
  Bytes b;
  b.header(2, 0).tensor("w", {8}, kF32, 0);
  const size_t second_at = b.at();
  b.tensor("w", {8}, kF32, 32).pad_to(32).zeros(64);
  expect_corrupt(b, second_at, "duplicate tensor name 'w'");
}

TEST(GgufCorrupt, OverlappingTensors) {
  Bytes b;
  size_t second_offset_at = 0;
  b.header(2, 0)
      .tensor("big", {16}, kF32, 0)
      .tensor("small", {8}, kF32, 32, &second_offset_at)
      .pad_to(32)
      .zeros(128);
  expect_corrupt(b, second_offset_at,
                 "tensor 'small' data [32, +32) overlaps tensor 'big' data [0, +64)");
}

TEST(GgufCorrupt, I2sTrailerCountsTowardsOverlap) {
  // An I2_S tensor of 128 values takes 32 bytes of codes plus its 32-byte scale trailer.
  Bytes b;
  size_t second_offset_at = 0;
  b.header(2, 0)
      .tensor("a", {128}, 36, 0)
      .tensor("b", {8}, kF32, 32, &second_offset_at)
      .pad_to(32)
      .zeros(128);
  expect_corrupt(b, second_offset_at,
                 "tensor 'b' data [32, +32) overlaps tensor 'a' data [0, +64)");
}

// A valid file cut at every length must fail cleanly (header cuts) or parse (none: data is last).
TEST(GgufCorrupt, EveryTruncationOfAValidFileFails) {
  gguf::GgufWriter w;
  w.add_string("general.architecture", "bitnet");
  w.add_string_array("tokenizer.ggml.tokens", {"a", "b", "c"});
  w.add_f32("x.eps", 1e-5f);
  w.add_tensor("t", TensorType::F32, {8}, std::vector<uint8_t>(32, 0));
  const auto path = test::scratch_dir() / "truncate.gguf";
  w.write(path.string());
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(raw.size());
  std::memcpy(bytes.data(), raw.data(), raw.size());
  EXPECT_NO_THROW((void)GgufFile::parse(bytes));
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW((void)GgufFile::parse(std::span(bytes.data(), n)), Error) << "cut at " << n;
  }
}

TEST(GgufCorrupt, MissingFileIsAnIoError) {
  try {
    (void)GgufFile::open("/nonexistent/dir/model.gguf");
    ADD_FAILURE() << "opened a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::io);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.gguf: cannot open"),
              std::string::npos)
        << e.what();
  }
}

TEST(GgufCorrupt, DirectoryIsNotAModel) {
  try {
    (void)GgufFile::open(test::scratch_dir().string());
    ADD_FAILURE() << "opened a directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::io);
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

TEST(GgufCorrupt, OpenNamesTheFile) {
  const auto path = test::scratch_dir() / "garbage.gguf";
  std::ofstream(path, std::ios::binary) << "this is not a gguf file at all";
  try {
    (void)GgufFile::open(path.string());
    ADD_FAILURE() << "parsed garbage";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": offset 0: bad magic (not a GGUF file)");
  }
}

TEST(GgufCorrupt, ParsedImageHasNoMapping) {
  Bytes b;
  b.header(0, 0);
  const auto file = GgufFile::parse(b.span());
  EXPECT_THROW((void)file.mapping(), Error);
}

TEST(GgufCorrupt, WrongTypedLookupsNameTheKey) {
  Bytes b;
  b.header(0, 2).kv_str("general.name", "x");
  b.str("neg").u32(static_cast<uint32_t>(ValueType::INT32)).put<int32_t>(-3);
  const auto file = GgufFile::parse(b.span(), "m.gguf");
  try {
    (void)file.get_u64("general.name");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.gguf: metadata key 'general.name'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)file.get_u64("neg"), Error);
  EXPECT_EQ(file.get("neg").as_i64(), -3);
  EXPECT_THROW((void)file.get("missing"), Error);
  EXPECT_THROW((void)file.tensor("missing"), Error);
}

}  // namespace
}  // namespace bitnet
