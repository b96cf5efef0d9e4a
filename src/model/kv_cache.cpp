#include "model/kv_cache.hpp"

#include <numeric>
#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "quant/quantize.hpp"

namespace bitnet {

std::string_view to_string(KvType type) {
  switch (type) {
    case KvType::F16:
      return "f16";
    case KvType::F32:
      return "f32";
    case KvType::Q8_0:
      return "q8_0";
  }
  return "?";
}

KvType parse_kv_type(std::string_view name) {
  for (const KvType t : {KvType::F16, KvType::F32, KvType::Q8_0}) {
    if (name == to_string(t)) return t;
  }
  throw Error(ErrorCategory::config,
              "unknown KV cache type \"" + std::string(name) + "\" (expected f16, q8_0 or f32)");
}

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType k_type, KvType v_type,
                 int64_t n_seq)
    : n_layer_(n_layer),
      n_ctx_(n_ctx),
      n_embd_kv_(n_embd_kv),
      k_type_(k_type),
      v_type_(v_type),
      n_seq_(n_seq) {
  if (n_layer <= 0 || n_ctx <= 0 || n_embd_kv <= 0 || n_seq <= 0) {
    throw Error(ErrorCategory::config,
                "KV cache: n_layer, n_ctx, n_embd_kv and n_seq must be positive (n_ctx = " +
                    std::to_string(n_ctx) + ", n_seq = " + std::to_string(n_seq) + ")");
  }
  if ((k_type == KvType::F32) != (v_type == KvType::F32)) {
    throw Error(ErrorCategory::config, "KV cache: an f32 cache is f32 for both K and V (K " +
                                           std::string(to_string(k_type)) + ", V " +
                                           std::string(to_string(v_type)) + ")");
  }
  const bool quantized = k_type == KvType::Q8_0 || v_type == KvType::Q8_0;
  if (quantized && n_embd_kv % 32 != 0) {
    throw Error(ErrorCategory::config,
                "KV cache: q8_0 needs K/V rows of a multiple of 32 values (" +
                    std::to_string(n_embd_kv) + ")");
  }
  n_past_.assign(static_cast<size_t>(n_seq), 0);
  const auto n = static_cast<size_t>(n_layer * n_seq * n_ctx * n_embd_kv);
  try {
    switch (k_type) {
      case KvType::F16:
        k16_.resize(n);
        break;
      case KvType::F32:
        k32_.resize(n);
        break;
      case KvType::Q8_0:
        kq8_.resize(n / 32);
        break;
    }
    switch (v_type) {
      case KvType::F16:
        v16_.resize(n);
        break;
      case KvType::F32:
        v32_.resize(n);
        break;
      case KvType::Q8_0:
        vq8_.resize(n / 32);
        break;
    }
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCategory::memory,
                "KV cache of n_ctx " + std::to_string(n_ctx) + " x " + std::to_string(n_seq) +
                    " sequences (K " + std::string(to_string(k_type)) + ", V " +
                    std::string(to_string(v_type)) + ") does not fit in memory");
  }
}

int64_t KvCache::n_past_total() const {
  return std::accumulate(n_past_.begin(), n_past_.end(), int64_t{0});
}

size_t KvCache::bytes() const {
  return (k16_.size() + v16_.size()) * sizeof(uint16_t) +
         (k32_.size() + v32_.size()) * sizeof(float) +
         (kq8_.size() + vq8_.size()) * sizeof(kernels::BlockQ8_0);
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
  switch (k_type_) {
    case KvType::F16:
      for (int64_t i = 0; i < n_embd_kv_; ++i)
        k16_[ko + static_cast<size_t>(i)] = fp32_to_fp16(k[i]);
      break;
    case KvType::F32:
      for (int64_t i = 0; i < n_embd_kv_; ++i) k32_[ko + static_cast<size_t>(i)] = k[i];
      break;
    case KvType::Q8_0:
      quantize_row(TensorType::Q8_0, k, kq8_.data() + ko / 32, n_embd_kv_);
      break;
  }
  switch (v_type_) {
    case KvType::F16:
      for (int64_t i = 0; i < n_embd_kv_; ++i) {
        v16_[vo + static_cast<size_t>(i) * stride] = fp32_to_fp16(v[i]);
      }
      break;
    case KvType::F32:
      for (int64_t i = 0; i < n_embd_kv_; ++i) v32_[vo + static_cast<size_t>(i) * stride] = v[i];
      break;
    case KvType::Q8_0:
      quantize_row(TensorType::Q8_0, v, vq8_.data() + ko / 32, n_embd_kv_);
      break;
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
