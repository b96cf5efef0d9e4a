// One inference session over a shared Model: the KV cache, every scratch buffer and the logits.
// A Context is used by one thread at a time; create one per session. Buffers grow to the largest
// batch seen and are then reused, so steady-state decoding allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/kv_cache.hpp"
#include "model/model.hpp"
#include "model/numerics.hpp"
#include "trace/stage.hpp"

namespace bitnet {

struct ContextOptions {
  int32_t n_ctx = 4096;  // KV cells of each sequence
  int32_t n_seq = 1;     // independent sequences (KvCache: one region of n_ctx cells each)
  int n_threads = 1;
  KvType type_k = KvType::F16;  // --cache-type-k: f16, q8_0 (or f32 with type_v f32)
  KvType type_v = KvType::F16;  // --cache-type-v
  Numerics numerics = Numerics::Reference;
  // BITNET_TRACE_DIR (with BITNET_TRACE_DATA, BITNET_TRACE_FILTER) records every eval of this
  // context; false for callers that attach their own recorder (crossval's --trace).
  bool trace_from_environment = true;
};

// One token of a multi-sequence batch (like llama_batch's arrays): `pos` must continue its
// sequence (n_past(seq), then +1 for each later token of the same sequence in the batch).
struct BatchToken {
  int32_t token = 0;
  int32_t seq = 0;
  int32_t pos = 0;
  bool logits = false;  // compute this token's logits
};

class LayerBackend;
class CpuForward;
class TraceRecorder;
class LogitsDebugPrinter;

class Context {
 public:
  Context(std::shared_ptr<const Model> model, const ContextOptions& options);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Appends tokens at positions n_past..n_past+n-1 and computes logits for every new position
  // (all_logits) or only the last. Throws Error(capacity) before changing anything if it would
  // exceed n_ctx, Error(config) for a token id outside the vocab. One call = one batch (batch-size
  // numerics: like the reference, batches longer than 512 tokens run as consecutive ubatches of
  // 512).
  void eval(std::span<const int32_t> tokens, bool all_logits);

  // Evaluates tokens of several sequences in one forward pass: every weight matrix is read once
  // for all of them; attention stays within each sequence. Logits rows are those of the tokens
  // with `logits` set, in batch order. With Numerics::Fast each row's values are bit-identical to
  // the same sequence evaluated alone, whatever else the batch holds and wherever the row is.
  // Reference numerics follow the reference's batch-size-dependent rules for the whole batch.
  // Throws Error(config) for an empty batch, a bad sequence id, token id or position, and
  // Error(capacity) when a sequence would overflow; nothing changes then.
  void decode(std::span<const BatchToken> batch);

  std::span<const float> logits() const;       // [rows][n_vocab] of the last eval/decode
  std::span<const float> last_logits() const;  // the last row
  std::span<const float> logits_row(int64_t row) const;
  int64_t n_logits_rows() const { return logits_rows_; }
  int32_t n_past(int32_t seq = 0) const;
  int64_t n_past_total() const { return kv_.n_past_total(); }  // over every sequence
  int32_t n_ctx() const;                                       // cells of each sequence
  int32_t n_seq() const;
  int32_t n_vocab() const;
  void reset();                                    // empty the KV cache (every sequence)
  void truncate(int32_t n_past, int32_t seq = 0);  // keep the first n_past positions of seq
  const Model& model() const { return *model_; }
  const ContextOptions& options() const { return options_; }
  // Replaces the observer (empty = off, no cost), including the BITNET_TRACE_DIR recorder.
  void set_stage_observer(StageObserver observer);
  // The recorder BITNET_TRACE_DIR made for this context (null when tracing is off or replaced).
  const TraceRecorder* environment_trace() const { return env_trace_.get(); }

 private:
  // Runs tokens [begin, end) of batch_ (one ubatch), writes the logits of its flagged rows from
  // logits row first_out_row on and returns how many.
  int64_t eval_ubatch(size_t begin, size_t end, int64_t first_out_row);
  void check_tokens(std::span<const BatchToken> batch);  // throws before anything changes
  void run_batch();                                      // batch_, checked

  std::shared_ptr<const Model> model_;
  ContextOptions options_;
  KvCache kv_;
  StageObserver observer_;
  std::unique_ptr<TraceRecorder> env_trace_;          // BITNET_TRACE_DIR
  std::unique_ptr<LogitsDebugPrinter> debug_logits_;  // BITNET_DEBUG_LOGITS
  std::unique_ptr<CpuForward> cpu_;                   // embedding, head and the CPU layers
  std::vector<LayerBackend*> layer_backend_;          // per layer; not owned
  std::vector<float> residual_;                       // [ubatch][n_embd]
  std::vector<float> logits_;                         // [rows][n_vocab]
  int64_t logits_rows_ = 0;
  // The batch being evaluated, split into arrays for LayerBatch (grown, never shrunk).
  std::vector<BatchToken> batch_;
  std::vector<int32_t> ub_token_, ub_seq_, ub_pos_;
  std::vector<int64_t> ub_seq_end_, ub_seq_count_;
};

}  // namespace bitnet
