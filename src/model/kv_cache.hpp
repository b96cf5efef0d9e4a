// The attention KV cache of one context: for each of n_seq independent sequences, per layer, K as
// [pos][n_embd_kv] and V transposed as [n_embd_kv][n_ctx] (so the probability-weighted sum over
// positions reads contiguous memory, like the reference's transposed V). F16 by default, as the
// references store it; F32 selectable. Q8_0 (llama.cpp's --cache-type-k/-v q8_0) halves the
// bytes: K and V rows by position in 32-value blocks (V is not transposed then, since a block must
// hold values written together), with their own numerics (kernels/kv_q8_0.hpp).
//
// Several sequences (the server's slots) get fixed, equal regions of n_ctx cells each rather than
// one shared pool of cells: a sequence's positions are contiguous, attention reads one region with
// the same strides as a single-sequence cache, and a sequence's values never depend on which other
// sequences exist (what batch invariance needs). The cost is that a short sequence cannot lend its
// unused cells to a long one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/kv_q8_0.hpp"

namespace bitnet {

enum class KvType { F16, F32, Q8_0 };
std::string_view to_string(KvType type);  // "f16", "f32", "q8_0" (llama.cpp's names)
// Throws Error(config) naming the accepted values for anything else.
KvType parse_kv_type(std::string_view name);

class KvCache {
 public:
  // n_ctx: cells of each sequence.
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType type, int64_t n_seq = 1)
      : KvCache(n_layer, n_ctx, n_embd_kv, type, type, n_seq) {}
  // K and V types: f16 or q8_0 each, or f32 for both. Q8_0 needs n_embd_kv a multiple of 32.
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType k_type, KvType v_type,
          int64_t n_seq);

  KvType k_type() const { return k_type_; }
  KvType v_type() const { return v_type_; }
  int64_t n_ctx() const { return n_ctx_; }  // per sequence
  int64_t n_seq() const { return n_seq_; }
  int64_t n_embd_kv() const { return n_embd_kv_; }
  int64_t n_past(int64_t seq = 0) const { return n_past_[static_cast<size_t>(seq)]; }
  int64_t n_past_total() const;  // over all sequences
  size_t bytes() const;

  // Throws Error(capacity) naming n_ctx when n_new more positions would not fit in `seq`.
  void check_room(int64_t n_new, int64_t seq = 0) const;
  // Stores K and V rows (n_embd_kv floats each, rounded to F16 for an F16 cache) of `pos` of `seq`
  // in `layer`. Positions past n_past are written by a batch before commit() makes them part of
  // the cache.
  void store(int64_t layer, int64_t seq, int64_t pos, const float* k, const float* v);
  void commit(int64_t n_new, int64_t seq = 0);     // n_past += n_new (after every layer stored)
  void truncate(int64_t n_past, int64_t seq = 0);  // keep the first n_past positions of seq
  void reset();                                    // every sequence empty

  // Row of K at `pos` and the V row of dimension `d` (n_ctx entries, one per position) of `seq`.
  const uint16_t* k_f16(int64_t layer, int64_t seq, int64_t pos) const {
    return k16_.data() + k_offset(layer, seq, pos);
  }
  const float* k_f32(int64_t layer, int64_t seq, int64_t pos) const {
    return k32_.data() + k_offset(layer, seq, pos);
  }
  const uint16_t* v_f16(int64_t layer, int64_t seq, int64_t d) const {
    return v16_.data() + v_offset(layer, seq, d);
  }
  const float* v_f32(int64_t layer, int64_t seq, int64_t d) const {
    return v32_.data() + v_offset(layer, seq, d);
  }
  // Q8_0 caches: the K row and the V row (n_embd_kv / 32 blocks each) at `pos`.
  const kernels::BlockQ8_0* k_q8_0(int64_t layer, int64_t seq, int64_t pos) const {
    return kq8_.data() + k_offset(layer, seq, pos) / 32;
  }
  const kernels::BlockQ8_0* v_q8_0(int64_t layer, int64_t seq, int64_t pos) const {
    return vq8_.data() + k_offset(layer, seq, pos) / 32;
  }

 private:
  size_t k_offset(int64_t layer, int64_t seq, int64_t pos) const {
    return static_cast<size_t>(((layer * n_seq_ + seq) * n_ctx_ + pos) * n_embd_kv_);
  }
  size_t v_offset(int64_t layer, int64_t seq, int64_t d) const {
    return static_cast<size_t>(((layer * n_seq_ + seq) * n_embd_kv_ + d) * n_ctx_);
  }
  void check_seq(int64_t seq) const;

  int64_t n_layer_;
  int64_t n_ctx_;
  int64_t n_embd_kv_;
  KvType k_type_, v_type_;
  int64_t n_seq_;
  std::vector<int64_t> n_past_;  // per sequence
  std::vector<uint16_t> k16_, v16_;
  std::vector<float> k32_, v32_;
  std::vector<kernels::BlockQ8_0> kq8_, vq8_;
};

}  // namespace bitnet
