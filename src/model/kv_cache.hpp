// The attention KV cache of one context: per layer, K as [pos][n_embd_kv] and V transposed as
// [n_embd_kv][n_ctx] (so the probability-weighted sum over positions reads contiguous memory, like
// the reference's transposed V). F16 by default, as the references store it; F32 selectable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bitnet {

enum class KvType { F16, F32 };

class KvCache {
 public:
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType type);

  KvType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_embd_kv() const { return n_embd_kv_; }
  int64_t n_past() const { return n_past_; }
  size_t bytes() const;

  // Throws Error(capacity) naming n_ctx when n_new more positions would not fit.
  void check_room(int64_t n_new) const;
  // Stores K and V rows (n_embd_kv floats each, rounded to F16 for an F16 cache) of `pos` in
  // `layer`. Positions past n_past are written by a batch before commit() makes them part of the
  // cache.
  void store(int64_t layer, int64_t pos, const float* k, const float* v);
  void commit(int64_t n_new);     // n_past += n_new (after every layer stored them)
  void truncate(int64_t n_past);  // keep the first n_past positions (0 <= n_past <= n_past())
  void reset() { n_past_ = 0; }

  // Row of K at `pos` and the V row of dimension `d` (n_ctx entries, one per position).
  const uint16_t* k_f16(int64_t layer, int64_t pos) const {
    return k16_.data() + k_offset(layer, pos);
  }
  const float* k_f32(int64_t layer, int64_t pos) const {
    return k32_.data() + k_offset(layer, pos);
  }
  const uint16_t* v_f16(int64_t layer, int64_t d) const { return v16_.data() + v_offset(layer, d); }
  const float* v_f32(int64_t layer, int64_t d) const { return v32_.data() + v_offset(layer, d); }

 private:
  size_t k_offset(int64_t layer, int64_t pos) const {
    return static_cast<size_t>((layer * n_ctx_ + pos) * n_embd_kv_);
  }
  size_t v_offset(int64_t layer, int64_t d) const {
    return static_cast<size_t>((layer * n_embd_kv_ + d) * n_ctx_);
  }

  int64_t n_layer_;
  int64_t n_ctx_;
  int64_t n_embd_kv_;
  KvType type_;
  int64_t n_past_ = 0;
  std::vector<uint16_t> k16_, v16_;
  std::vector<float> k32_, v32_;
};

}  // namespace bitnet
