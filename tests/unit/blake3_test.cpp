#include "trace/blake3.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <vector>

#include "test_support.hpp"
#include "trace_test_support.hpp"

namespace bitnet {
namespace {

// The BLAKE3 specification's test-vector input: byte i is i % 251.
std::vector<uint8_t> spec_input(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i % 251);
  return v;
}

void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

struct Vector {
  size_t length;
  const char* hash;
};

// The official unkeyed 32-byte hashes for these lengths, as printed by Debian's b3sum 1.2.0 (the
// test below re-checks them with b3sum wherever it is installed).
constexpr Vector kSpecVectors[] = {
    {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
    {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
    {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
    {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
    {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
    {2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"},
    {2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"},
    {3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"},
    {3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"},
    {4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969"},
    {4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"},
    {5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833"},
    {5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff"},
    {6144, "3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205"},
    {6145, "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f"},
    {7168, "61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a"},
    {7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817"},
    {8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"},
    {8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
    {16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"},
    {31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
    {102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"},
};

TEST(Blake3, SpecVectors) {
  for (const auto& v : kSpecVectors) {
    const auto input = spec_input(v.length);
    EXPECT_EQ(blake3_hex(input.data(), input.size()), v.hash) << "length " << v.length;
  }
}

TEST(Blake3, SpecVectorsAgreeWithB3sum) {
  if (!test::b3sum_available()) GTEST_SKIP() << "b3sum not installed (Debian package b3sum)";
  const auto dir = test::scratch_dir() / "blake3-spec";
  std::filesystem::create_directories(dir);
  std::vector<std::filesystem::path> files;
  for (const auto& v : kSpecVectors) {
    files.push_back(dir / ("input-" + std::to_string(v.length)));
    write_file(files.back(), spec_input(v.length));
  }
  const auto hashes = test::b3sum_files(files, dir);
  ASSERT_TRUE(hashes.has_value()) << "b3sum failed";
  ASSERT_EQ(hashes->size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ((*hashes)[i], kSpecVectors[i].hash) << "length " << kSpecVectors[i].length;
  }
  std::filesystem::remove_all(dir);
}

TEST(Blake3, IncrementalUpdatesMatchOneShot) {
  const auto input = spec_input(102400 + 77);
  for (const size_t step : {size_t{1}, size_t{7}, size_t{63}, size_t{64}, size_t{65}, size_t{1000},
                            size_t{1024}, size_t{1025}, size_t{4096}, size_t{10000}}) {
    for (const size_t n :
         {size_t{0}, size_t{64}, size_t{1024}, size_t{1025}, size_t{5121}, input.size()}) {
      Blake3Hasher h;
      for (size_t i = 0; i < n; i += step) h.update(input.data() + i, std::min(step, n - i));
      EXPECT_EQ(h.finalize_hex(), blake3_hex(input.data(), n))
          << "step " << step << ", length " << n;
    }
  }
}

TEST(Blake3, FinalizeLeavesHasherUsable) {
  const auto input = spec_input(3000);
  Blake3Hasher h;
  h.update(input.data(), 1500);
  EXPECT_EQ(h.finalize_hex(), blake3_hex(input.data(), 1500));
  h.update(input.data() + 1500, 1500);
  EXPECT_EQ(h.finalize_hex(), blake3_hex(input.data(), 3000));
}

TEST(Blake3, RandomFilesAgreeWithB3sum) {
  if (!test::b3sum_available()) GTEST_SKIP() << "b3sum not installed (Debian package b3sum)";
  const auto dir = test::scratch_dir() / "blake3-random";
  std::filesystem::create_directories(dir);
  // Chunk, block and tree-depth boundaries, odd sizes, and one logits row of 128256 floats.
  std::vector<size_t> sizes = {2,     31,    32,    63,    64,    65,         127,           128,
                               129,   1023,  1024,  1025,  2047,  4095,       4097,          8191,
                               16383, 16385, 32769, 65535, 65537, 128256 * 4, (1u << 20) + 3};
  std::mt19937_64 rng(20261123);
  for (int i = 0; i < 12; ++i)
    sizes.push_back(std::uniform_int_distribution<size_t>(0, 300000)(rng));
  std::vector<std::filesystem::path> files;
  std::vector<std::string> ours;
  for (const size_t n : sizes) {
    std::vector<uint8_t> bytes(n);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    files.push_back(dir / ("random-" + std::to_string(files.size()) + "-" + std::to_string(n)));
    write_file(files.back(), bytes);
    ours.push_back(blake3_hex(bytes.data(), bytes.size()));
  }
  const auto hashes = test::b3sum_files(files, dir);
  ASSERT_TRUE(hashes.has_value()) << "b3sum failed";
  ASSERT_EQ(hashes->size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(ours[i], (*hashes)[i]) << files[i];
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bitnet
