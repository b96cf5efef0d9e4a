// Compact open-addressing hash tables for the vocabulary (string -> id over 128k tokens) and the
// merge table ((left, right) -> rank, result over 280k merges). Node-based std::unordered_map made
// loading the LLaMA-3 vocabulary take ~400 ms; flat arrays with linear probing take a fraction.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace bitnet::tokenizer {

inline size_t table_capacity(size_t n) {
  size_t capacity = 16;
  while (capacity < n * 2) capacity <<= 1;  // load factor <= 1/2
  return capacity;
}

// Maps strings to ids; the strings themselves live in a vector owned elsewhere and passed to
// every call, so the index can be moved along with it.
class TokenIndex {
 public:
  // Indexes strings[i] for every i where keep(i); the first of equal strings wins.
  template <typename Keep>
  void build(const std::vector<std::string>& strings, Keep keep) {
    slots_.assign(table_capacity(strings.size()), Slot{0, kNoToken});
    mask_ = slots_.size() - 1;
    for (size_t i = 0; i < strings.size(); ++i) {
      if (!keep(i)) continue;
      const uint64_t h = hash(strings[i]);
      size_t pos = h & mask_;
      while (true) {
        Slot& slot = slots_[pos];
        if (slot.id == kNoToken) {
          slot = {static_cast<uint32_t>(h >> 32), static_cast<TokenId>(i)};
          break;
        }
        if (slot.tag == static_cast<uint32_t>(h >> 32) && strings[slot.id] == strings[i]) break;
        pos = (pos + 1) & mask_;
      }
    }
  }
  void build(const std::vector<std::string>& strings) {
    build(strings, [](size_t) { return true; });
  }

  bool empty() const { return slots_.empty(); }

  TokenId find(std::string_view text, const std::vector<std::string>& strings) const {
    if (slots_.empty()) return kNoToken;
    const uint64_t h = hash(text);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
      const Slot& slot = slots_[pos];
      if (slot.id == kNoToken) return kNoToken;
      if (slot.tag == tag && strings[slot.id] == text) return slot.id;
    }
  }

 private:
  struct Slot {
    uint32_t tag;  // high hash bits: most mismatches are rejected without touching the string
    TokenId id;
  };
  static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// (left, right) token pair -> merge rank and resulting token.
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    TokenId result;
  };

  void reserve(size_t n) {
    slots_.assign(table_capacity(n), Slot{kEmpty, {0, kNoToken}});
    mask_ = slots_.size() - 1;
  }
  // Keeps the first (lowest-rank) entry of a pair.
  void insert(TokenId left, TokenId right, Merge merge) {
    const uint64_t key = pair_key(left, right);
    for (size_t pos = hash(key) & mask_;; pos = (pos + 1) & mask_) {
      Slot& slot = slots_[pos];
      if (slot.key == kEmpty) {
        slot = {key, merge};
        return;
      }
      if (slot.key == key) return;
    }
  }
  const Merge* find(TokenId left, TokenId right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = pair_key(left, right);
    for (size_t pos = hash(key) & mask_;; pos = (pos + 1) & mask_) {
      const Slot& slot = slots_[pos];
      if (slot.key == key) return &slot.merge;
      if (slot.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are < 2^31, so no pair has this key
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static uint64_t pair_key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  static size_t hash(uint64_t key) {
    key ^= key >> 29;
    key *= 0xBF58476D1CE4E5B9ULL;
    key ^= key >> 32;
    return static_cast<size_t>(key);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace bitnet::tokenizer
