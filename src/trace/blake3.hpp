// BLAKE3 (unkeyed hash mode, 32-byte output), written from the BLAKE3 specification
// (O'Connor, Aumasson, Neves, Wilcox-O'Hearn, 2020). Traces hash every stage tensor with it so that
// two runs can be compared byte for byte, and the hashes equal what `b3sum` prints for the same
// bytes. Debian 12 ships no libblake3, hence our own portable implementation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace bitnet {

class Blake3Hasher {
 public:
  static constexpr size_t kOutLen = 32;
  using Digest = std::array<uint8_t, kOutLen>;

  Blake3Hasher();

  // Absorbs more input; the hash is the same however the input is split across calls.
  void update(const void* data, size_t size);
  void update(std::span<const std::byte> bytes) { update(bytes.data(), bytes.size()); }

  // The hash of everything absorbed so far; the hasher stays usable (more update() may follow).
  Digest finalize() const;
  std::string finalize_hex() const;

 private:
  static constexpr size_t kBlockLen = 64;
  static constexpr size_t kChunkLen = 1024;
  static constexpr size_t kMaxDepth = 54;  // 2^54 chunks of 1 KiB: the spec's maximum input size

  void push_chunk_cv(const uint32_t cv[8], uint64_t total_chunks);
  void compress_full_block(const uint8_t* block);
  void finish_chunk();

  // The chunk being filled: its chaining value, the bytes of its not-yet-compressed last block.
  uint32_t chunk_cv_[8];
  uint64_t chunk_counter_ = 0;
  uint8_t block_[kBlockLen];
  uint8_t block_len_ = 0;
  uint8_t blocks_compressed_ = 0;
  // Chaining values of completed subtrees, one per set bit of chunk_counter_.
  uint32_t cv_stack_[kMaxDepth][8];
  uint8_t cv_stack_len_ = 0;
};

// The hash of `size` bytes as 64 lowercase hex digits (the format of `b3sum`).
std::string blake3_hex(const void* data, size_t size);
inline std::string blake3_hex(std::span<const std::byte> bytes) {
  return blake3_hex(bytes.data(), bytes.size());
}

std::string to_hex(const Blake3Hasher::Digest& digest);

}  // namespace bitnet
