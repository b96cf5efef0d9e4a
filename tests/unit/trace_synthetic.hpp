// Synthetic traces for the trace-diff tests: a made-up model's forward passes (prefill + decode
// steps) written through TraceRecorder, optionally perturbed from one layer on, as a changed weight
// in that layer would be.
#pragma once

#include <cmath>
#include <filesystem>
#include <set>
#include <vector>

#include "trace/trace_recorder.hpp"

namespace bitnet::test {

struct SyntheticRun {
  int n_layers = 4;
  int64_t n_prompt = 4;
  int n_decode = 2;  // decode evals after the prefill
  int64_t n_embd = 16;
  int64_t n_ff = 24;
  int64_t n_vocab = 40;
  bool save_data = true;
  int perturb_layer = -1;  // every stage from this layer's q_proj on changes by `delta`
  float delta = 0.5f;
  std::set<Stage> untraced;  // stages this run does not report
};

inline bool is_ffn_inner(Stage s) {
  return s == Stage::ffn_gate || s == Stage::ffn_up || s == Stage::ffn_act ||
         s == Stage::ffn_sub_norm;
}

inline std::vector<float> synthetic_rows(const SyntheticRun& run, int64_t seq, int layer,
                                         Stage stage, int64_t first_pos, int64_t rows,
                                         int64_t cols) {
  const int64_t rank = stage == Stage::embeddings                               ? -1
                       : (stage == Stage::final_norm || stage == Stage::logits) ? 1000
                                                                                : layer;
  const bool perturbed =
      run.perturb_layer >= 0 &&
      (rank > run.perturb_layer ||
       (rank == run.perturb_layer && static_cast<int>(stage) >= static_cast<int>(Stage::q_proj)));
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) {
      const double x =
          std::sin(0.3 * double(i + 1) * double(layer + 3) + 0.7 * double(static_cast<int>(stage)) +
                   0.11 * double(first_pos + r) + 0.05 * double(seq));
      v[static_cast<size_t>(r * cols + i)] =
          static_cast<float>(x) +
          (perturbed ? run.delta * static_cast<float>(std::cos(double(i))) : 0.0f);
    }
  }
  return v;
}

inline void write_synthetic_run(const std::filesystem::path& dir, const SyntheticRun& run) {
  TraceRecorder recorder(dir, run.save_data);
  const StageObserver observe = recorder.observer();
  auto report = [&](int64_t seq, int layer, Stage stage, int64_t first_pos, int64_t rows,
                    int64_t cols) {
    if (run.untraced.count(stage)) return;
    const auto data = synthetic_rows(run, seq, layer, stage, first_pos, rows, cols);
    observe(StageTensor{layer, stage, first_pos, rows, cols, data.data()});
  };
  for (int64_t seq = 0; seq <= run.n_decode; ++seq) {
    const int64_t first_pos = seq == 0 ? 0 : run.n_prompt + seq - 1;
    const int64_t rows = seq == 0 ? run.n_prompt : 1;
    // The recorder counts evals by their embeddings: always report it, even when "untraced".
    const auto embd = synthetic_rows(run, seq, -1, Stage::embeddings, first_pos, rows, run.n_embd);
    observe(StageTensor{-1, Stage::embeddings, first_pos, rows, run.n_embd, embd.data()});
    for (int layer = 0; layer < run.n_layers; ++layer) {
      for (int s = static_cast<int>(Stage::attn_norm); s <= static_cast<int>(Stage::layer_out);
           ++s) {
        const auto stage = static_cast<Stage>(s);
        report(seq, layer, stage, first_pos, rows, is_ffn_inner(stage) ? run.n_ff : run.n_embd);
      }
    }
    report(seq, -1, Stage::final_norm, first_pos, rows, run.n_embd);
    report(seq, -1, Stage::logits, first_pos, rows, run.n_vocab);
  }
}

}  // namespace bitnet::test
