#include "model/attention.hpp"

#include <algorithm>
#include <cmath>

#include "common/fp16.hpp"
#include "kernels/kv_q8_0.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_ref.hpp"
#include "quant/quantize.hpp"

namespace bitnet {
namespace {

// The reference's KV view is padded to 32 cells; vec_dot_f16 splits its sum at multiples of 64 of
// that padded length, so the padding decides which products are summed in double.
int64_t padded_kv_length(int64_t n_used, int64_t n_ctx) {
  return std::min(n_ctx, (n_used + 31) / 32 * 32);
}

}  // namespace

CpuAttention::CpuAttention(const ModelConfig& config, const KvCache& kv, int n_threads)
    : c_(config), kv_(kv), n_threads_(std::max(1, n_threads)) {
  queries_.resize(static_cast<size_t>(kPassRows * c_.n_head * c_.head_dim));
  if (kv_.k_type() == KvType::Q8_0) {
    queries_q8_.resize(static_cast<size_t>(kPassRows * c_.n_head * c_.head_dim / 32));
  }
  row_keys_.resize(kPassRows);
  row_sums_.resize(kPassRows);
  tiles_.reserve(kPassRows);
}

void CpuAttention::run(int64_t layer, const LayerBatch& batch, const float* q, float* out) {
  for (int64_t row = 0; row < batch.n_tokens; row += kPassRows) {
    plan_pass(batch, row, std::min(batch.n_tokens, row + kPassRows));
    run_pass(layer, batch, row, q, out);
  }
}

void CpuAttention::plan_pass(const LayerBatch& b, int64_t row_begin, int64_t row_end) {
  const BatchNumerics& nm = b.numerics;
  tiles_.clear();
  int64_t longest = 0;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t seq = b.seq[r];
    const int64_t n_att = b.pos[r] + 1;  // causal: positions 0..pos
    // The reference pads its KV view for the whole batch (of this sequence), and the padded
    // length decides which products vec_dot_f16 sums in double. Fast numerics pad for the row's
    // own position, so that a row's result cannot depend on the batch it is in.
    const int64_t view = nm.pad_per_row ? n_att : b.seq_end[seq];
    const bool padded = nm.pv == DotOrder::VecDot && kv_.v_type() != KvType::Q8_0;
    const int64_t n_sum = padded ? padded_kv_length(view, kv_.n_ctx()) : n_att;
    row_keys_[static_cast<size_t>(r - row_begin)] = n_att;
    row_sums_[static_cast<size_t>(r - row_begin)] = n_sum;
    longest = std::max(longest, n_sum);
    if (tiles_.empty() || tiles_.back().seq != seq) {
      tiles_.push_back(Tile{r, r + 1, seq, n_att});
    } else {
      tiles_.back().row_end = r + 1;
      tiles_.back().n_keys = std::max(tiles_.back().n_keys, n_att);
    }
  }
  stride_ = (longest + 15) / 16 * 16;
  const auto probs = static_cast<size_t>((row_end - row_begin) * c_.n_head * stride_);
  if (probs_.size() < probs) probs_.resize(probs);

  score_jobs_.clear();
  value_jobs_.clear();
  for (size_t ti = 0; ti < tiles_.size(); ++ti) {
    for (int32_t g = 0; g < c_.n_head_kv; ++g) {
      for (int64_t j = 0; j < tiles_[ti].n_keys; j += kKeyBlock) {
        score_jobs_.push_back(
            Job{static_cast<int32_t>(ti), g, j, std::min(tiles_[ti].n_keys, j + kKeyBlock)});
      }
      const int64_t dims = kv_.v_type() == KvType::Q8_0 ? kDimBlockQ8 : kDimBlock;
      for (int64_t d = 0; d < c_.head_dim; d += dims) {
        value_jobs_.push_back(Job{static_cast<int32_t>(ti), g, d, std::min(c_.head_dim, d + dims)});
      }
    }
  }
}

void CpuAttention::run_pass(int64_t layer, const LayerBatch& b, int64_t row_begin, const float* q,
                            float* out) {
  const BatchNumerics& nm = b.numerics;
  const int64_t hd = c_.head_dim;
  const int64_t n_head = c_.n_head;
  const int64_t gqa = c_.n_gqa();
  const int64_t pass_rows = tiles_.back().row_end - row_begin;
  const KvType k_type = kv_.k_type();
  const KvType v_type = kv_.v_type();
  const bool round_q = nm.round_q_f16 && k_type == KvType::F16;
  const bool round_p = nm.round_probs_f16 && v_type == KvType::F16;
  const kernels::KvQ8Kernels& q8 = kernels::kv_q8_kernels();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t q8_blocks = hd / 32;              // Q8_0 blocks per head
  const int64_t kv_blocks = c_.n_embd_kv() / 32;  // Q8_0 blocks per cache row
  const auto n_score_jobs = static_cast<int64_t>(score_jobs_.size());
  const auto n_value_jobs = static_cast<int64_t>(value_jobs_.size());

  const auto probs_of = [&](int64_t pass_row, int64_t head) {
    return probs_.data() + (pass_row * n_head + head) * stride_;
  };
  const auto query_of = [&](int64_t pass_row, int64_t head) {
    return queries_.data() + (pass_row * n_head + head) * hd;
  };

#pragma omp parallel num_threads(n_threads_)
  {
    // Q rows, rounded to F16 where the reference rounds them (their products are then exact).
#pragma omp for schedule(static)
    for (int64_t i = 0; i < pass_rows * n_head; ++i) {
      const float* src = q + (row_begin + i / n_head) * c_.n_embd + (i % n_head) * hd;
      if (k_type == KvType::Q8_0) {
        quantize_row(TensorType::Q8_0, src, queries_q8_.data() + i * q8_blocks, hd);
        continue;
      }
      float* dst = queries_.data() + i * hd;
      for (int64_t d = 0; d < hd; ++d) dst[d] = round_q ? round_to_fp16(src[d]) : src[d];
    }

    // Q.K^T: each K row once, for every head of its group and every row of the tile that sees it.
#pragma omp for schedule(dynamic, 1)
    for (int64_t ji = 0; ji < n_score_jobs; ++ji) {
      const Job& job = score_jobs_[static_cast<size_t>(ji)];
      const Tile& tile = tiles_[static_cast<size_t>(job.tile)];
      const int64_t offset = job.group * hd;
      if (k_type == KvType::Q8_0) {
        // Every head of the group at once, over the positions each row of the tile sees.
        for (int64_t r = tile.row_begin; r < tile.row_end; ++r) {
          const int64_t pr = r - row_begin;
          const int64_t end = std::min(job.end, row_keys_[static_cast<size_t>(pr)]);
          if (end <= job.begin) continue;
          q8.scores(kv_.k_q8_0(layer, tile.seq, job.begin) + offset / 32, kv_blocks,
                    end - job.begin,
                    queries_q8_.data() + (pr * n_head + job.group * gqa) * q8_blocks, gqa,
                    q8_blocks, probs_of(pr, job.group * gqa) + job.begin, stride_);
        }
        continue;
      }
      // 16 positions at a time: their K rows (4 KB of a head group) stay in L1 for every head
      // and row of the tile, and an F16 cache's 16 dots share one reduction.
      for (int64_t j0 = job.begin; j0 < job.end; j0 += kScoreRows) {
        const int64_t block = std::min(kScoreRows, job.end - j0);
        for (int64_t r = tile.row_begin; r < tile.row_end; ++r) {
          const int64_t pr = r - row_begin;
          // Positions from row_keys_ on are masked for this row.
          const int64_t n = std::min(block, row_keys_[static_cast<size_t>(pr)] - j0);
          if (n <= 0) continue;
          for (int64_t h = job.group * gqa; h < (job.group + 1) * gqa; ++h) {
            const float* qh = query_of(pr, h);
            float* scores = probs_of(pr, h) + j0;
            if (k_type == KvType::F16) {
              dot_f16_rows(nm.kq, kv_.k_f16(layer, tile.seq, j0) + offset, kv_.n_embd_kv(),
                           static_cast<int>(n), qh, hd, round_q, scores);
              continue;
            }
            for (int64_t j = 0; j < n; ++j) {
              scores[j] =
                  kernels::dot_f32_plain(kv_.k_f32(layer, tile.seq, j0 + j) + offset, qh, hd);
            }
          }
        }
      }
    }

#pragma omp for schedule(static)
    for (int64_t i = 0; i < pass_rows * n_head; ++i) {
      const auto pr = static_cast<size_t>(i / n_head);
      float* p = probs_.data() + i * stride_;
      const int64_t n_att = row_keys_[pr];
      kernels::softmax_scaled(p, n_att, scale);
      if (round_p) {
        for (int64_t j = 0; j < n_att; ++j) p[j] = round_to_fp16(p[j]);
      }
      std::fill(p + n_att, p + row_sums_[pr], 0.0f);  // masked positions weigh exactly 0
    }

    // P.V: each V row once, for every head and row of the tile that sees it.
#pragma omp for schedule(dynamic, 1)
    for (int64_t ji = 0; ji < n_value_jobs; ++ji) {
      const Job& job = value_jobs_[static_cast<size_t>(ji)];
      const Tile& tile = tiles_[static_cast<size_t>(job.tile)];
      if (v_type == KvType::Q8_0) {
        // V by position: out[d] += p_j * v_j[d] over j in order, every head of the group at once,
        // for dimensions [begin, end).
        const int64_t first = job.group * hd + job.begin;
        for (int64_t r = tile.row_begin; r < tile.row_end; ++r) {
          const int64_t pr = r - row_begin;
          float* o = out + r * c_.n_embd + job.group * gqa * hd + job.begin;
          for (int64_t h = 0; h < gqa; ++h) std::fill_n(o + h * hd, job.end - job.begin, 0.0f);
          q8.values(kv_.v_q8_0(layer, tile.seq, 0) + first / 32, kv_blocks,
                    row_keys_[static_cast<size_t>(pr)], probs_of(pr, job.group * gqa), gqa, stride_,
                    o, hd, job.end - job.begin);
        }
        continue;
      }
      // V is stored by dimension: the job's (at most 16) dimensions are 16 rows for one P.
      const int64_t first = job.group * hd + job.begin;
      const auto dims = static_cast<int>(job.end - job.begin);
      for (int64_t r = tile.row_begin; r < tile.row_end; ++r) {
        const int64_t pr = r - row_begin;
        const int64_t n_sum = row_sums_[static_cast<size_t>(pr)];
        for (int64_t h = job.group * gqa; h < (job.group + 1) * gqa; ++h) {
          float* o = out + r * c_.n_embd + h * hd + job.begin;
          if (v_type == KvType::F16) {
            dot_f16_rows(nm.pv, kv_.v_f16(layer, tile.seq, first), kv_.n_ctx(), dims,
                         probs_of(pr, h), n_sum, round_p, o);
            continue;
          }
          for (int d = 0; d < dims; ++d) {
            o[d] = kernels::dot_f32_plain(kv_.v_f32(layer, tile.seq, first + d), probs_of(pr, h),
                                          n_sum);
          }
        }
      }
    }
  }
}

}  // namespace bitnet
