#include "trace/blake3.hpp"

#include <algorithm>
#include <cstring>

namespace bitnet {
namespace {

constexpr uint32_t kIV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                             0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// Domain-separation flags (keyed hashing and key derivation are not needed here).
constexpr uint32_t kChunkStart = 1u << 0;
constexpr uint32_t kChunkEnd = 1u << 1;
constexpr uint32_t kParent = 1u << 2;
constexpr uint32_t kRoot = 1u << 3;

constexpr int kRounds = 7;

// Message word order of each round: the spec permutes the words between rounds; precomputing the
// composed permutations lets every round read the block in place.
struct Schedule {
  uint8_t order[kRounds][16];
};
constexpr Schedule make_schedule() {
  constexpr uint8_t kPermutation[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};
  Schedule s{};
  for (int i = 0; i < 16; ++i) s.order[0][i] = static_cast<uint8_t>(i);
  for (int r = 1; r < kRounds; ++r) {
    for (int i = 0; i < 16; ++i) s.order[r][i] = s.order[r - 1][kPermutation[i]];
  }
  return s;
}
constexpr Schedule kSchedule = make_schedule();

inline uint32_t rotr(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

inline uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline void store_le32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

inline void g(uint32_t* v, int a, int b, int c, int d, uint32_t mx, uint32_t my) {
  v[a] = v[a] + v[b] + mx;
  v[d] = rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + my;
  v[d] = rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 7);
}

// The compression function; leaves the 16-word state (before the feed-forward) in `v`.
inline void compress_state(uint32_t v[16], const uint32_t cv[8], const uint32_t m[16],
                           uint64_t counter, uint32_t block_len, uint32_t flags) {
  for (int i = 0; i < 8; ++i) v[i] = cv[i];
  v[8] = kIV[0];
  v[9] = kIV[1];
  v[10] = kIV[2];
  v[11] = kIV[3];
  v[12] = static_cast<uint32_t>(counter);
  v[13] = static_cast<uint32_t>(counter >> 32);
  v[14] = block_len;
  v[15] = flags;
#pragma GCC unroll 7
  for (int r = 0; r < kRounds; ++r) {
    const uint8_t* s = kSchedule.order[r];
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
}

inline void load_block(const uint8_t* block, uint32_t m[16]) {
  for (int i = 0; i < 16; ++i) m[i] = load_le32(block + 4 * i);
}

// cv <- first 8 words of compress(cv, block, ...): the chaining value of a non-root node.
inline void compress_in_place(uint32_t cv[8], const uint8_t* block, uint64_t counter,
                              uint32_t block_len, uint32_t flags) {
  uint32_t m[16];
  load_block(block, m);
  uint32_t v[16];
  compress_state(v, cv, m, counter, block_len, flags);
  for (int i = 0; i < 8; ++i) cv[i] = v[i] ^ v[i + 8];
}

#if defined(__GNUC__)
// Four whole chunks at once, one per vector lane: the same compression as above on vectors of
// four words (GCC/Clang vector extensions: SSE2 on any x86-64, NEON on ARM).
// The chunks are independent until their chaining values meet in the tree, so this is where
// BLAKE3 gets its data parallelism.
constexpr size_t kLanes = 4;
typedef uint32_t Lanes __attribute__((vector_size(4 * kLanes)));

// Vectors go by pointer: passing them by value would depend on the target's vector ABI.
template <int n>
inline void rotr_in_place(Lanes* x) {
  *x = (*x >> n) | (*x << (32 - n));
}

inline void g(Lanes* v, int a, int b, int c, int d, const Lanes* mx, const Lanes* my) {
  v[a] = v[a] + v[b] + *mx;
  v[d] = v[d] ^ v[a];
  rotr_in_place<16>(&v[d]);
  v[c] = v[c] + v[d];
  v[b] = v[b] ^ v[c];
  rotr_in_place<12>(&v[b]);
  v[a] = v[a] + v[b] + *my;
  v[d] = v[d] ^ v[a];
  rotr_in_place<8>(&v[d]);
  v[c] = v[c] + v[d];
  v[b] = v[b] ^ v[c];
  rotr_in_place<7>(&v[b]);
}

// Chaining values of the kLanes chunks at `in` (contiguous, 1 KiB each), numbered from `counter`.
void hash_chunks_parallel(const uint8_t* in, uint64_t counter, uint32_t cvs[kLanes][8]) {
  constexpr size_t kChunk = 1024, kBlock = 64;
  Lanes h[8];
  for (int i = 0; i < 8; ++i) h[i] = Lanes{} + kIV[i];
  Lanes counter_lo, counter_hi;
  for (size_t lane = 0; lane < kLanes; ++lane) {
    counter_lo[lane] = static_cast<uint32_t>(counter + lane);
    counter_hi[lane] = static_cast<uint32_t>((counter + lane) >> 32);
  }
  for (size_t block = 0; block < kChunk / kBlock; ++block) {
    Lanes m[16];
    for (size_t lane = 0; lane < kLanes; ++lane) {
      const uint8_t* p = in + lane * kChunk + block * kBlock;
      for (int w = 0; w < 16; ++w) m[w][lane] = load_le32(p + 4 * w);
    }
    const uint32_t flags =
        (block == 0 ? kChunkStart : 0u) | (block + 1 == kChunk / kBlock ? kChunkEnd : 0u);
    Lanes v[16];
    for (int i = 0; i < 8; ++i) v[i] = h[i];
    for (int i = 0; i < 4; ++i) v[8 + i] = Lanes{} + kIV[i];
    v[12] = counter_lo;
    v[13] = counter_hi;
    v[14] = Lanes{} + static_cast<uint32_t>(kBlock);
    v[15] = Lanes{} + flags;
#pragma GCC unroll 7
    for (int r = 0; r < kRounds; ++r) {
      const uint8_t* s = kSchedule.order[r];
      g(v, 0, 4, 8, 12, &m[s[0]], &m[s[1]]);
      g(v, 1, 5, 9, 13, &m[s[2]], &m[s[3]]);
      g(v, 2, 6, 10, 14, &m[s[4]], &m[s[5]]);
      g(v, 3, 7, 11, 15, &m[s[6]], &m[s[7]]);
      g(v, 0, 5, 10, 15, &m[s[8]], &m[s[9]]);
      g(v, 1, 6, 11, 12, &m[s[10]], &m[s[11]]);
      g(v, 2, 7, 8, 13, &m[s[12]], &m[s[13]]);
      g(v, 3, 4, 9, 14, &m[s[14]], &m[s[15]]);
    }
    for (int i = 0; i < 8; ++i) h[i] = v[i] ^ v[i + 8];
  }
  for (size_t lane = 0; lane < kLanes; ++lane) {
    for (int i = 0; i < 8; ++i) cvs[lane][i] = h[i][lane];
  }
}
#endif

// A node whose last compression is deferred until we know whether it is the root.
struct Output {
  uint32_t cv[8];
  uint32_t m[16];
  uint32_t block_len;
  uint64_t counter;
  uint32_t flags;

  void chaining_value(uint32_t out[8]) const {
    uint32_t v[16];
    compress_state(v, cv, m, counter, block_len, flags);
    for (int i = 0; i < 8; ++i) out[i] = v[i] ^ v[i + 8];
  }

  // The first 32 bytes of the root output (output block counter 0).
  Blake3Hasher::Digest root_bytes() const {
    uint32_t v[16];
    compress_state(v, cv, m, 0, block_len, flags | kRoot);
    Blake3Hasher::Digest out{};
    for (int i = 0; i < 8; ++i) store_le32(out.data() + 4 * i, v[i] ^ v[i + 8]);
    return out;
  }
};

Output parent_output(const uint32_t left[8], const uint32_t right[8]) {
  Output o{};
  std::memcpy(o.cv, kIV, sizeof(kIV));
  for (int i = 0; i < 8; ++i) {
    o.m[i] = left[i];
    o.m[i + 8] = right[i];
  }
  o.block_len = 64;
  o.counter = 0;
  o.flags = kParent;
  return o;
}

}  // namespace

Blake3Hasher::Blake3Hasher() {
  std::memcpy(chunk_cv_, kIV, sizeof(kIV));
}

void Blake3Hasher::compress_full_block(const uint8_t* block) {
  const uint32_t flags = blocks_compressed_ == 0 ? kChunkStart : 0u;
  compress_in_place(chunk_cv_, block, chunk_counter_, kBlockLen, flags);
  ++blocks_compressed_;
}

// Completes a full chunk whose last block sits in block_; only called once more input is known to
// follow, so the chunk is not the root.
void Blake3Hasher::finish_chunk() {
  const uint32_t flags = (blocks_compressed_ == 0 ? kChunkStart : 0u) | kChunkEnd;
  compress_in_place(chunk_cv_, block_, chunk_counter_, kBlockLen, flags);
  push_chunk_cv(chunk_cv_, chunk_counter_ + 1);
  ++chunk_counter_;
  std::memcpy(chunk_cv_, kIV, sizeof(kIV));
  blocks_compressed_ = 0;
  block_len_ = 0;
}

// Merges completed subtrees eagerly: after chunk number total_chunks, one merge per trailing zero
// bit. Safe because a chunk is only pushed when more input follows, so no merged node is the root.
void Blake3Hasher::push_chunk_cv(const uint32_t cv[8], uint64_t total_chunks) {
  uint32_t merged[8];
  std::memcpy(merged, cv, sizeof(merged));
  while ((total_chunks & 1) == 0) {
    --cv_stack_len_;
    parent_output(cv_stack_[cv_stack_len_], merged).chaining_value(merged);
    total_chunks >>= 1;
  }
  std::memcpy(cv_stack_[cv_stack_len_], merged, sizeof(merged));
  ++cv_stack_len_;
}

void Blake3Hasher::update(const void* data, size_t size) {
  auto in = static_cast<const uint8_t*>(data);
  while (size > 0) {
    // A full buffered block is compressed only now that we know it is not the input's last.
    if (block_len_ == kBlockLen) {
      if (blocks_compressed_ == kChunkLen / kBlockLen - 1) {
        finish_chunk();
      } else {
        compress_full_block(block_);
        block_len_ = 0;
      }
    }
    if (block_len_ == 0) {
#if defined(__GNUC__)
      // Groups of whole chunks in parallel while more input follows them.
      while (blocks_compressed_ == 0 && size > kLanes * kChunkLen) {
        uint32_t cvs[kLanes][8];
        hash_chunks_parallel(in, chunk_counter_, cvs);
        for (const auto& cv : cvs) {
          push_chunk_cv(cv, chunk_counter_ + 1);
          ++chunk_counter_;
        }
        in += kLanes * kChunkLen;
        size -= kLanes * kChunkLen;
      }
#endif
      // Whole chunks straight from the input while more follows after them.
      while (blocks_compressed_ == 0 && size > kChunkLen) {
        for (size_t b = 0; b + 1 < kChunkLen / kBlockLen; ++b)
          compress_full_block(in + b * kBlockLen);
        std::memcpy(block_, in + kChunkLen - kBlockLen, kBlockLen);
        finish_chunk();
        in += kChunkLen;
        size -= kChunkLen;
      }
      // Whole blocks of the current chunk, keeping its last block (and the input's last) buffered.
      while (size > kBlockLen && blocks_compressed_ + 1u < kChunkLen / kBlockLen) {
        compress_full_block(in);
        in += kBlockLen;
        size -= kBlockLen;
      }
    }
    const size_t take = std::min(kBlockLen - block_len_, size);
    std::memcpy(block_ + block_len_, in, take);
    block_len_ = static_cast<uint8_t>(block_len_ + take);
    in += take;
    size -= take;
  }
}

Blake3Hasher::Digest Blake3Hasher::finalize() const {
  Output out{};
  std::memcpy(out.cv, chunk_cv_, sizeof(chunk_cv_));
  uint8_t padded[kBlockLen] = {};
  std::memcpy(padded, block_, block_len_);
  load_block(padded, out.m);
  out.block_len = block_len_;
  out.counter = chunk_counter_;
  out.flags = (blocks_compressed_ == 0 ? kChunkStart : 0u) | kChunkEnd;
  for (size_t i = cv_stack_len_; i > 0; --i) {
    uint32_t right[8];
    out.chaining_value(right);
    out = parent_output(cv_stack_[i - 1], right);
  }
  return out.root_bytes();
}

std::string to_hex(const Blake3Hasher::Digest& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(2 * digest.size(), '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kDigits[digest[i] >> 4];
    hex[2 * i + 1] = kDigits[digest[i] & 15];
  }
  return hex;
}

std::string Blake3Hasher::finalize_hex() const {
  return to_hex(finalize());
}

std::string blake3_hex(const void* data, size_t size) {
  Blake3Hasher hasher;
  hasher.update(data, size);
  return hasher.finalize_hex();
}

}  // namespace bitnet
