// Causal grouped-query attention of one layer over the KV cache, for a whole batch at once.
//
// The rows of a batch are taken in passes of up to kPassRows. Within a pass each K row and each
// V row of a KV head is read from memory once and used, while it sits in L1, by every query head
// that shares it (GQA) and every token of the pass that sees it; the naive loop (per token, per
// head) streams the whole cache n_gqa x n_tokens times. Threads split the work over KV heads x
// blocks of positions (scores), rows x heads (softmax) and KV heads x blocks of dimensions (P.V),
// so 2 and 16 threads both have jobs at any depth.
//
// Every score and every output value is the same dot product, in the same summation order, as the
// per-(token, head) loop computes (BatchNumerics decides the orders): the results are
// bit-identical to it in both numerics, only the memory traffic changes. A Q8_0 cache has its own
// products (kernels/kv_q8_0.hpp): K rows dotted with the query quantized to Q8_0 as ggml's flash
// attention does (integer block sums), V rows (by position) accumulated in registers. Its kernels
// take one row of the tile at a time, every head of the group at once: a prefill row re-reads the
// job's K or V block from L2 (34 bytes per 32 values) instead of sharing it in L1.
#pragma once

#include <cstdint>
#include <vector>

#include "model/backend.hpp"
#include "model/config.hpp"
#include "model/kv_cache.hpp"

namespace bitnet {

class CpuAttention {
 public:
  static constexpr int64_t kPassRows = 16;    // rows whose scores are held at once
  static constexpr int64_t kKeyBlock = 256;   // positions per scoring job
  static constexpr int64_t kDimBlock = 16;    // V dimensions per P.V job
  static constexpr int64_t kDimBlockQ8 = 64;  // with a Q8_0 V: two blocks, a cache line
  static constexpr int64_t kScoreRows = 16;   // K rows scored together (dot_f16_rows' limit)
  static_assert(kDimBlock <= 16, "a P.V job's dimensions are one dot_f16_rows call");

  CpuAttention(const ModelConfig& config, const KvCache& kv, int n_threads);

  // out[t][h * head_dim + d] for every row t of the batch; q is [n_tokens][n_embd] after RoPE,
  // and the batch's K and V are already stored in the cache for `layer`.
  void run(int64_t layer, const LayerBatch& batch, const float* q, float* out);

 private:
  // A run of consecutive rows of one sequence within a pass (they share K and V rows).
  struct Tile {
    int64_t row_begin, row_end;  // batch rows
    int64_t seq;
    int64_t n_keys;  // positions any row of the tile attends to (last row's pos + 1)
  };
  struct Job {
    int32_t tile, group;
    int64_t begin, end;  // positions (scoring) or dimensions (P.V)
  };

  void plan_pass(const LayerBatch& batch, int64_t row_begin, int64_t row_end);
  void run_pass(int64_t layer, const LayerBatch& batch, int64_t row_begin, const float* q,
                float* out);

  const ModelConfig& c_;
  const KvCache& kv_;
  int n_threads_;

  // Planned per pass; capacity grows to the largest pass seen, then steady state allocates nothing.
  std::vector<Tile> tiles_;
  std::vector<Job> score_jobs_, value_jobs_;
  std::vector<int64_t> row_keys_, row_sums_;    // per row of the pass: n_att and n_sum
  int64_t stride_ = 0;                          // floats per (row, head) score row
  std::vector<float> queries_;                  // [pass row][n_head][head_dim], rounded as needed
  std::vector<kernels::BlockQ8_0> queries_q8_;  // the same, quantized, for a Q8_0 K cache
  std::vector<float> probs_;                    // [pass row][n_head][stride_]
};

}  // namespace bitnet
