// The layer forward pass on the CPU, written to read top to bottom like the model's definition.
// Numerics follow the reference of the weight type (see model/numerics.hpp and
// docs/architecture.md); the small ops are kernels/ops, bit-identical to the scalar mirrors in
// kernels/ops_ref.
#include "model/forward_cpu.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "common/fp16.hpp"
#include "kernels/f16_gemv.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet {
CpuForward::CpuForward(const Model& model, KvCache& kv, int n_threads,
                       const StageObserver* observer)
    : model_(model),
      c_(model.config()),
      kv_(kv),
      n_threads_(std::max(1, n_threads)),
      observer_(observer),
      attention_(c_, kv, n_threads_) {
  const auto threads = static_cast<size_t>(n_threads_);
  row_.resize(threads * static_cast<size_t>(c_.n_embd));
  hidden_.resize(static_cast<size_t>(c_.n_embd));
  hidden_f16_.resize(static_cast<size_t>(c_.n_embd));
}

void CpuForward::reserve(int64_t n_tokens) {
  if (n_tokens <= capacity_) return;
  const auto n = static_cast<size_t>(n_tokens);
  const auto embd = n * static_cast<size_t>(c_.n_embd);
  const auto kv = n * static_cast<size_t>(c_.n_embd_kv());
  const auto ff = n * static_cast<size_t>(c_.n_ff);
  for (auto* b : {&xn_, &q_, &attn_, &sub_, &o_, &down_}) b->resize(embd);
  for (auto* b : {&k_, &v_}) b->resize(kv);
  for (auto* b : {&gate_, &up_, &ffn_sub_}) b->resize(ff);
  rope_cache_.resize(n * static_cast<size_t>(c_.n_rot));
  capacity_ = n_tokens;
}

void CpuForward::embed(std::span<const int32_t> tokens, const LayerBatch& batch) {
  for (size_t t = 0; t < tokens.size(); ++t) {
    model_.weights().token_embd.dequantize_row_to(
        tokens[t], batch.residual + static_cast<int64_t>(t) * c_.n_embd);
  }
  observe(-1, Stage::embeddings, batch, c_.n_embd, batch.residual);
  // RoPE tables for the batch's positions, shared by every layer.
  const float* freq_factors = model_.weights().rope_freqs;
  for (int64_t t = 0; t < batch.n_tokens; ++t) {
    float* cache = rope_cache_.data() + t * c_.n_rot;
    const auto pos = static_cast<float>(batch.pos[t]);
    if (freq_factors != nullptr) {
      kernels::rope_cache_freq_factors_ref(pos, c_.n_rot, c_.rope_freq_base, c_.rope_freq_scale,
                                           freq_factors, cache);
    } else {
      kernels::rope_cache_ref(pos, c_.n_rot, c_.rope_freq_base, c_.rope_freq_scale, cache);
    }
  }
}

void CpuForward::bitlinear(const BitLinearWeights& w, const float* x, int64_t n_tokens, float* y,
                           kernels::SumOrder order) {
  kernels::bitlinear(w.w, x, n_tokens, y, acts_, n_threads_, order);
  if (w.out_scale != 1.0f) {
    kernels::scale_rows(y, n_tokens, w.w.n, w.out_scale, n_threads_);
  }
}

void CpuForward::bitlinear_group(std::initializer_list<const BitLinearWeights*> ws, const float* x,
                                 int64_t n_tokens, std::initializer_list<float*> ys,
                                 kernels::SumOrder order) {
  const kernels::TernaryWeights* mats[4];
  size_t count = 0;
  for (const BitLinearWeights* w : ws) mats[count++] = &w->w;
  kernels::bitlinear_group({mats, count}, x, n_tokens, {ys.begin(), ys.size()}, acts_, n_threads_,
                           order);
  float* const* out = ys.begin();
  for (const BitLinearWeights* w : ws) {
    float* y = *out++;
    if (w->out_scale != 1.0f) {
      kernels::scale_rows(y, n_tokens, w->w.n, w->out_scale, n_threads_);
    }
  }
}

void CpuForward::forward_layer(int64_t il, const LayerBatch& b) {
  const LayerWeights& L = model_.weights().layers[static_cast<size_t>(il)];
  const int layer = static_cast<int>(il);
  const int64_t n = b.n_tokens;
  const int64_t E = c_.n_embd;
  const int64_t F = c_.n_ff;
  float* x = b.residual;

  // Attention block.
  kernels::rms_norm_rows(x, L.attn_norm, n, E, c_.rms_eps, xn_.data(), n_threads_);
  observe(layer, Stage::attn_norm, b, E, xn_.data());
  const kernels::SumOrder order = b.numerics.ternary;
  bitlinear_group({&L.wq, &L.wk, &L.wv}, xn_.data(), n, {q_.data(), k_.data(), v_.data()}, order);
  observe(layer, Stage::q_proj, b, E, q_.data());
  observe(layer, Stage::k_proj, b, c_.n_embd_kv(), k_.data());
  observe(layer, Stage::v_proj, b, c_.n_embd_kv(), v_.data());
  attention(il, b);
  observe(layer, Stage::attn_out, b, E, attn_.data());
  const float* o_in = attn_.data();  // llama has no sub-norms
  if (L.attn_sub_norm != nullptr) {
    kernels::rms_norm_rows(attn_.data(), L.attn_sub_norm, n, E, c_.rms_eps, sub_.data(),
                           n_threads_);
    observe(layer, Stage::attn_sub_norm, b, E, sub_.data());
    o_in = sub_.data();
  }
  bitlinear(L.wo, o_in, n, o_.data(), order);
  observe(layer, Stage::o_proj, b, E, o_.data());
  kernels::add_rows(x, o_.data(), n, E, n_threads_);

  // Feed-forward block.
  kernels::rms_norm_rows(x, L.ffn_norm, n, E, c_.rms_eps, xn_.data(), n_threads_);
  observe(layer, Stage::ffn_norm, b, E, xn_.data());
  bitlinear_group({&L.gate, &L.up}, xn_.data(), n, {gate_.data(), up_.data()}, order);
  observe(layer, Stage::ffn_gate, b, F, gate_.data());
  observe(layer, Stage::ffn_up, b, F, up_.data());
  if (c_.ffn_activation == FfnActivation::Relu2) {
    kernels::relu2_mul_rows(gate_.data(), up_.data(), n, F, n_threads_);
  } else {
    kernels::silu_mul_rows(gate_.data(), up_.data(), n, F, n_threads_);
  }
  observe(layer, Stage::ffn_act, b, F, gate_.data());
  const float* down_in = gate_.data();
  if (L.ffn_sub_norm != nullptr) {
    kernels::rms_norm_rows(gate_.data(), L.ffn_sub_norm, n, F, c_.rms_eps, ffn_sub_.data(),
                           n_threads_);
    observe(layer, Stage::ffn_sub_norm, b, F, ffn_sub_.data());
    down_in = ffn_sub_.data();
  }
  bitlinear(L.down, down_in, n, down_.data(), order);
  observe(layer, Stage::ffn_out, b, E, down_.data());
  kernels::add_rows(x, down_.data(), n, E, n_threads_);
  observe(layer, Stage::layer_out, b, E, x);
}

// RoPE on Q and K, K/V into the cache, then softmax(Q.K^T / sqrt(d) + causal mask) . V per head,
// grouped-query heads sharing KV heads (model/attention.hpp).
void CpuForward::attention(int64_t il, const LayerBatch& b) {
  const int64_t n = b.n_tokens;
  const int64_t hd = c_.head_dim;
  const int64_t n_kv_embd = c_.n_embd_kv();
  const auto rope = c_.rope_type == RopeType::Normal ? kernels::rope_normal_rows
                                                      : kernels::rope_neox_rows;
  rope(q_.data(), n, c_.n_embd, hd, c_.n_rot, rope_cache_.data(), n_threads_);
  rope(k_.data(), n, n_kv_embd, hd, c_.n_rot, rope_cache_.data(), n_threads_);
  for (int64_t t = 0; t < n; ++t) {
    kv_.store(il, b.seq[t], b.pos[t], k_.data() + t * n_kv_embd, v_.data() + t * n_kv_embd);
  }
  attention_.run(il, b, q_.data(), attn_.data());
}

void CpuForward::head(const LayerBatch& b, int64_t row_begin, int64_t row_end, float* logits) {
  const int64_t E = c_.n_embd;
  const int64_t n_out = row_end - row_begin;
  float* normed = xn_.data();
  kernels::rms_norm_rows(b.residual + row_begin * E, model_.weights().output_norm, n_out, E,
                         c_.rms_eps, normed, n_threads_);
  if (*observer_) {
    (*observer_)(StageTensor{-1, Stage::final_norm, b.first_pos + row_begin, n_out, E, normed});
  }
  const DenseMatrix& W = model_.weights().output;
  const BatchNumerics& nm = b.numerics;
  const int64_t n_vocab = W.rows;
  const kernels::QuantizedHead& Wq = model_.weights().output_quantized;
  for (int64_t r = 0; r < n_out; ++r) {
    if (!Wq.empty()) {
      // The opt-in Q8_0/Q6_K head: its own numerics (kernels/head_gemv.hpp), not the reference's.
      kernels::head_gemv(Wq, normed + r * E, head_acts_, logits + r * n_vocab, n_threads_);
      continue;
    }
    float* h = hidden_.data();
    for (int64_t i = 0; i < E; ++i) {
      const float v = normed[r * E + i];
      if (!nm.round_hidden_f16) {
        h[i] = v;
      } else if (W.type == TensorType::BF16) {
        h[i] = bf16_to_fp32(fp32_to_bf16(v));
      } else if (W.type == TensorType::F16) {
        h[i] = round_to_fp16(v);
      } else {
        h[i] = v;  // Q8_0/Q6_K heads: the reference's Q8 activation quantization is not mirrored
      }
    }
    float* out = logits + r * n_vocab;
    const DotOrder order = nm.head;
    if (W.type == TensorType::F16 && order == DotOrder::VecDot && nm.round_hidden_f16) {
      // h is exact in F16 and kernels::f16_gemv sums in vec_dot_f16's order: the same bits, fast.
      for (int64_t i = 0; i < E; ++i) hidden_f16_[i] = fp32_to_fp16(h[i]);
      kernels::f16_gemv(reinterpret_cast<const uint16_t*>(W.row_data(0)), hidden_f16_.data(),
                        n_vocab, E, out, n_threads_);
      continue;
    }
#pragma omp parallel for num_threads(n_threads_) schedule(static)
    for (int64_t v = 0; v < n_vocab; ++v) {
      if (W.type == TensorType::F16) {
        out[v] = dot_f16(order, reinterpret_cast<const uint16_t*>(W.row_data(v)), h, E,
                         nm.round_hidden_f16);
      } else {
        float* row = row_.data() + omp_get_thread_num() * E;
        W.dequantize_row_to(v, row);
        out[v] = kernels::dot_f32_plain(row, h, E);
      }
    }
  }
  if (*observer_) {
    (*observer_)(StageTensor{-1, Stage::logits, b.first_pos + row_begin, n_out, n_vocab, logits});
  }
}

}  // namespace bitnet
