#include "model/kv_cache.hpp"

#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"

namespace bitnet {

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType type)
    : n_layer_(n_layer), n_ctx_(n_ctx), n_embd_kv_(n_embd_kv), type_(type) {
  if (n_layer <= 0 || n_ctx <= 0 || n_embd_kv <= 0) {
    throw Error(ErrorCategory::config,
                "KV cache: n_layer, n_ctx and n_embd_kv must be positive (n_ctx = " +
                    std::to_string(n_ctx) + ")");
  }
  const auto n = static_cast<size_t>(n_layer * n_ctx * n_embd_kv);
  try {
    if (type == KvType::F16) {
      k16_.resize(n);
      v16_.resize(n);
    } else {
      k32_.resize(n);
      v32_.resize(n);
    }
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCategory::memory, "KV cache of n_ctx " + std::to_string(n_ctx) + " (" +
                                           std::to_string(2 * n * (type == KvType::F16 ? 2 : 4)) +
                                           " bytes) does not fit in memory");
  }
}

size_t KvCache::bytes() const {
  return (k16_.size() + v16_.size()) * sizeof(uint16_t) +
         (k32_.size() + v32_.size()) * sizeof(float);
}

void KvCache::check_room(int64_t n_new) const {
  if (n_new < 0 || n_past_ + n_new > n_ctx_) {
    throw Error(ErrorCategory::capacity, "context full: " + std::to_string(n_past_) +
                                             " positions used + " + std::to_string(n_new) +
                                             " new exceed n_ctx = " + std::to_string(n_ctx_));
  }
}

void KvCache::store(int64_t layer, int64_t pos, const float* k, const float* v) {
  const size_t ko = k_offset(layer, pos);
  if (type_ == KvType::F16) {
    for (int64_t i = 0; i < n_embd_kv_; ++i) {
      k16_[ko + static_cast<size_t>(i)] = fp32_to_fp16(k[i]);
      v16_[v_offset(layer, i) + static_cast<size_t>(pos)] = fp32_to_fp16(v[i]);
    }
  } else {
    for (int64_t i = 0; i < n_embd_kv_; ++i) {
      k32_[ko + static_cast<size_t>(i)] = k[i];
      v32_[v_offset(layer, i) + static_cast<size_t>(pos)] = v[i];
    }
  }
}

void KvCache::commit(int64_t n_new) {
  check_room(n_new);
  n_past_ += n_new;
}

void KvCache::truncate(int64_t n_past) {
  if (n_past < 0 || n_past > n_past_) {
    throw Error(ErrorCategory::config, "KV cache truncate(" + std::to_string(n_past) +
                                           "): must be in [0, " + std::to_string(n_past_) + "]");
  }
  n_past_ = n_past;
}

}  // namespace bitnet
