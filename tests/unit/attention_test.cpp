// CpuAttention (model/attention.hpp) against the per-(token, head) loop it replaced: every output
// bit-identical, for both numerics and every batch-size rule, F16 and F32 caches, batches longer
// than one pass, several sequences in one batch, positions past 2048 and 1-3 threads.
#include "model/attention.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/fp16.hpp"
#include "kernels/kv_q8_0.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_ref.hpp"
#include "model/numerics.hpp"
#include "quant/quantize.hpp"

namespace bitnet {
namespace {

// One row's rows of the batch: `seq` and the KV position of each, plus the per-sequence view end.
struct BatchRows {
  std::vector<int32_t> seq, pos;
  std::vector<int64_t> seq_end;
};

// The oracle: per (token, head), scores over positions 0..pos in order, softmax, then one P.V dot
// per dimension, with the reference's padding rule.
void attention_oracle(const ModelConfig& c, const KvCache& kv, int64_t layer, const LayerBatch& b,
                      const float* q, float* out) {
  const BatchNumerics& nm = b.numerics;
  const int64_t hd = c.head_dim;
  const bool f16 = kv.k_type() == KvType::F16;
  const bool k_q8 = kv.k_type() == KvType::Q8_0;
  const bool v_q8 = kv.v_type() == KvType::Q8_0;
  const bool v_f16 = kv.v_type() == KvType::F16;
  std::vector<float> scores(static_cast<size_t>(kv.n_ctx()));
  std::vector<float> qh(static_cast<size_t>(hd));
  std::vector<kernels::BlockQ8_0> q8(static_cast<size_t>(hd / 32));
  for (int64_t t = 0; t < b.n_tokens; ++t) {
    for (int64_t h = 0; h < c.n_head; ++h) {
      const int64_t g = h / c.n_gqa();
      const int64_t seq = b.seq[t];
      const float* qt = q + t * c.n_embd + h * hd;
      const bool round_q = nm.round_q_f16 && f16;
      for (int64_t d = 0; d < hd; ++d) qh[d] = round_q ? round_to_fp16(qt[d]) : qt[d];
      const int64_t n_att = b.pos[t] + 1;
      if (k_q8) quantize_row(TensorType::Q8_0, qt, q8.data(), hd);
      for (int64_t j = 0; j < n_att; ++j) {
        if (k_q8) {
          kernels::kv_q8_0_scores_ref(kv.k_q8_0(layer, seq, j) + g * hd / 32, 0, 1, q8.data(), 1,
                                      hd / 32, &scores[j], 0);
          continue;
        }
        scores[j] =
            f16 ? dot_f16(nm.kq, kv.k_f16(layer, seq, j) + g * hd, qh.data(), hd, nm.round_q_f16)
                : kernels::dot_f32_plain(kv.k_f32(layer, seq, j) + g * hd, qh.data(), hd);
      }
      kernels::softmax_scaled_ref(scores.data(), n_att, 1.0f / std::sqrt(static_cast<float>(hd)));
      if (nm.round_probs_f16 && v_f16) {
        for (int64_t j = 0; j < n_att; ++j) scores[j] = round_to_fp16(scores[j]);
      }
      if (v_q8) {
        float* o = out + t * c.n_embd + h * hd;
        std::fill_n(o, hd, 0.0f);
        kernels::kv_q8_0_values_ref(kv.v_q8_0(layer, seq, 0) + g * hd / 32, kv.n_embd_kv() / 32,
                                    n_att, scores.data(), 1, 0, o, 0, hd);
        continue;
      }
      const int64_t view = nm.pad_per_row ? n_att : b.seq_end[seq];
      const int64_t n_sum =
          nm.pv == DotOrder::VecDot ? std::min(kv.n_ctx(), (view + 31) / 32 * 32) : n_att;
      std::fill(scores.begin() + n_att, scores.begin() + n_sum, 0.0f);
      for (int64_t d = 0; d < hd; ++d) {
        out[t * c.n_embd + h * hd + d] =
            v_f16 ? dot_f16(nm.pv, kv.v_f16(layer, seq, g * hd + d), scores.data(), n_sum,
                            nm.round_probs_f16)
                  : kernels::dot_f32_plain(kv.v_f32(layer, seq, g * hd + d), scores.data(), n_sum);
      }
    }
  }
}

ModelConfig small_config(int64_t n_head, int64_t n_head_kv, int64_t head_dim) {
  ModelConfig c;
  c.n_head = n_head;
  c.n_head_kv = n_head_kv;
  c.head_dim = head_dim;
  c.n_embd = n_head * head_dim;
  c.n_layer = 2;
  return c;
}

// Fills `kv` for positions [0, n_cached) of every sequence plus the batch's own rows, as the
// forward pass would have stored them before attention runs.
void fill_cache(KvCache& kv, int64_t layer, const BatchRows& rows, int64_t n_cached_each,
                std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.5f);
  std::vector<float> k(static_cast<size_t>(kv.n_embd_kv())), v(k.size());
  const auto store = [&](int64_t seq, int64_t pos) {
    for (auto& x : k) x = dist(rng);
    for (auto& x : v) x = dist(rng);
    kv.store(layer, seq, pos, k.data(), v.data());
  };
  for (int64_t s = 0; s < kv.n_seq(); ++s) {
    for (int64_t p = 0; p < n_cached_each; ++p) store(s, p);
  }
  for (size_t r = 0; r < rows.seq.size(); ++r) store(rows.seq[r], rows.pos[r]);
}

struct Case {
  const char* name;
  int64_t n_head, n_head_kv, head_dim, n_ctx, n_seq;
  int64_t n_cached;                 // positions already cached in every sequence
  std::vector<int32_t> seq_counts;  // new rows per sequence, in batch order
  KvType kv_type;
  KvType v_type = kv_type;
};

void check_case(const Case& cs) {
  const ModelConfig c = small_config(cs.n_head, cs.n_head_kv, cs.head_dim);
  KvCache kv(c.n_layer, cs.n_ctx, c.n_embd_kv(), cs.kv_type, cs.v_type, cs.n_seq);
  BatchRows rows;
  rows.seq_end.assign(static_cast<size_t>(cs.n_seq), 0);
  for (size_t s = 0; s < cs.seq_counts.size(); ++s) {
    for (int32_t i = 0; i < cs.seq_counts[s]; ++i) {
      rows.seq.push_back(static_cast<int32_t>(s));
      rows.pos.push_back(static_cast<int32_t>(cs.n_cached + i));
    }
    rows.seq_end[s] = cs.n_cached + cs.seq_counts[s];
  }
  std::mt19937 rng(1234);
  const int64_t layer = 1;
  fill_cache(kv, layer, rows, cs.n_cached, rng);
  const auto n = static_cast<int64_t>(rows.seq.size());
  std::vector<float> q(static_cast<size_t>(n * c.n_embd));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& x : q) x = dist(rng);

  for (const Numerics mode : {Numerics::Reference, Numerics::Fast}) {
    for (const TensorType wt : {TensorType::I2_S, TensorType::TQ2_0}) {
      ModelConfig cw = c;
      cw.weight_type = wt;
      LayerBatch b;
      b.n_tokens = n;
      b.seq = rows.seq.data();
      b.pos = rows.pos.data();
      b.seq_end = rows.seq_end.data();
      b.numerics = batch_numerics(mode, cw, cs.kv_type != KvType::F32, n);
      std::vector<float> want(q.size()), got(q.size(), NAN);
      attention_oracle(cw, kv, layer, b, q.data(), want.data());
      for (int threads = 1; threads <= 3; ++threads) {
        CpuAttention attention(cw, kv, threads);
        std::fill(got.begin(), got.end(), NAN);
        attention.run(layer, b, q.data(), got.data());
        for (size_t i = 0; i < got.size(); ++i) {
          uint32_t gw, gg;
          std::memcpy(&gw, &want[i], 4);
          std::memcpy(&gg, &got[i], 4);
          ASSERT_EQ(gw, gg) << cs.name << ": element " << i << " (row " << i / c.n_embd
                            << ") differs, " << (mode == Numerics::Fast ? "fast" : "reference")
                            << " numerics, weights " << static_cast<int>(wt) << ", " << threads
                            << " threads: " << want[i] << " vs " << got[i];
        }
      }
    }
  }
}

TEST(Attention, DecodeOneTokenMatchesOracle) {
  check_case({"decode", 8, 2, 32, 300, 1, 290, {1}, KvType::F16});
}

TEST(Attention, PrefillLongerThanOnePassMatchesOracle) {
  // 37 rows: two full passes and a ragged one; 300 positions: a partial key block.
  check_case({"prefill", 8, 2, 32, 400, 1, 5, {37}, KvType::F16});
}

TEST(Attention, F32CacheMatchesOracle) {
  check_case({"f32", 6, 3, 16, 200, 1, 40, {19}, KvType::F32});
}

TEST(Attention, SeveralSequencesInOneBatchMatchOracle) {
  // The server's shape: one decode row per slot, and a prompt of one slot next to them.
  check_case({"multi-seq", 8, 2, 32, 300, 4, 70, {1, 1, 20, 1}, KvType::F16});
}

TEST(Attention, PositionsPast2048MatchOracle) {
  check_case({"long", 4, 1, 16, 2600, 1, 2590, {3}, KvType::F16});
}

TEST(Attention, NoGroupedHeadsMatchOracle) {
  check_case({"mha", 4, 4, 64, 150, 1, 100, {5}, KvType::F16});
}

TEST(Attention, Q8_0CacheMatchesItsScalarDefinition) {
  check_case({"q8_0", 8, 2, 64, 700, 2, 600, {9, 1}, KvType::Q8_0, KvType::Q8_0});
  // Head sizes of 3 blocks (a 64-dimension job and a 32-dimension one) and of 4, GQA 4:1 and 5:1.
  check_case({"q8_0 hd96", 8, 2, 96, 400, 1, 300, {3}, KvType::Q8_0, KvType::Q8_0});
  check_case({"q8_0 hd128", 10, 2, 128, 2200, 1, 2100, {1}, KvType::Q8_0, KvType::Q8_0});
}

TEST(Attention, Q8_0KeysWithF16ValuesMatchOracle) {
  check_case({"q8_0 K", 8, 2, 32, 300, 1, 100, {4}, KvType::Q8_0, KvType::F16});
  check_case({"q8_0 V", 8, 2, 32, 300, 1, 100, {4}, KvType::F16, KvType::Q8_0});
}

}  // namespace
}  // namespace bitnet
