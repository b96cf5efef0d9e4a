#include "model/kv_cache.hpp"

#include <numeric>
#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"

namespace bitnet {

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType type, int64_t n_seq)
    : n_layer_(n_layer), n_ctx_(n_ctx), n_embd_kv_(n_embd_kv), type_(type), n_seq_(n_seq) {
  if (n_layer <= 0 || n_ctx <= 0 || n_embd_kv <= 0 || n_seq <= 0) {
    throw Error(ErrorCategory::config,
                "KV cache: n_layer, n_ctx, n_embd_kv and n_seq must be positive (n_ctx = " +
                    std::to_string(n_ctx) + ", n_seq = " + std::to_string(n_seq) + ")");
  }
  n_past_.assign(static_cast<size_t>(n_seq), 0);
  const auto n = static_cast<size_t>(n_layer * n_seq * n_ctx * n_embd_kv);
  try {
    if (type == KvType::F16) {
      k16_.resize(n);
      v16_.resize(n);
    } else {
      k32_.resize(n);
      v32_.resize(n);
    }
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCategory::memory, "KV cache of n_ctx " + std::to_string(n_ctx) + " x " +
                                           std::to_string(n_seq) + " sequences (" +
                                           std::to_string(2 * n * (type == KvType::F16 ? 2 : 4)) +
                                           " bytes) does not fit in memory");
  }
}

int64_t KvCache::n_past_total() const {
  return std::accumulate(n_past_.begin(), n_past_.end(), int64_t{0});
}

size_t KvCache::bytes() const {
  return (k16_.size() + v16_.size()) * sizeof(uint16_t) +
         (k32_.size() + v32_.size()) * sizeof(float);
}

void KvCache::check_seq(int64_t seq) const {
  if (seq < 0 || seq >= n_seq_) {
    throw Error(ErrorCategory::config, "KV cache: sequence id " + std::to_string(seq) +
                                           " outside [0, " + std::to_string(n_seq_) + ")");
  }
}

void KvCache::check_room(int64_t n_new, int64_t seq) const {
  check_seq(seq);
  const int64_t used = n_past_[static_cast<size_t>(seq)];
  if (n_new < 0 || used + n_new > n_ctx_) {
    throw Error(ErrorCategory::capacity,
                "context full: " + std::to_string(used) + " positions used + " +
                    std::to_string(n_new) + " new exceed n_ctx = " + std::to_string(n_ctx_) +
                    (n_seq_ > 1 ? " (of sequence " + std::to_string(seq) + ")" : ""));
  }
}

void KvCache::store(int64_t layer, int64_t seq, int64_t pos, const float* k, const float* v) {
  const size_t ko = k_offset(layer, seq, pos);
  const size_t vo = v_offset(layer, seq, 0) + static_cast<size_t>(pos);
  const auto stride = static_cast<size_t>(n_ctx_);
  if (type_ == KvType::F16) {
    for (int64_t i = 0; i < n_embd_kv_; ++i) {
      k16_[ko + static_cast<size_t>(i)] = fp32_to_fp16(k[i]);
      v16_[vo + static_cast<size_t>(i) * stride] = fp32_to_fp16(v[i]);
    }
  } else {
    for (int64_t i = 0; i < n_embd_kv_; ++i) {
      k32_[ko + static_cast<size_t>(i)] = k[i];
      v32_[vo + static_cast<size_t>(i) * stride] = v[i];
    }
  }
}

void KvCache::commit(int64_t n_new, int64_t seq) {
  check_room(n_new, seq);
  n_past_[static_cast<size_t>(seq)] += n_new;
}

void KvCache::truncate(int64_t n_past, int64_t seq) {
  check_seq(seq);
  const int64_t used = n_past_[static_cast<size_t>(seq)];
  if (n_past < 0 || n_past > used) {
    throw Error(ErrorCategory::config, "KV cache truncate(" + std::to_string(n_past) +
                                           "): must be in [0, " + std::to_string(used) + "]");
  }
  n_past_[static_cast<size_t>(seq)] = n_past;
}

void KvCache::reset() {
  n_past_.assign(n_past_.size(), 0);
}

}  // namespace bitnet
