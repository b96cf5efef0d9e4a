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
  int32_t n_ctx = 4096;
  int n_threads = 1;
  KvType kv_type = KvType::F16;
  Numerics numerics = Numerics::Reference;
  int n_gpu_layers = 0;  // layers 0..n-1 on a device backend (none is built in yet: must be 0)
  // BITNET_TRACE_DIR (with BITNET_TRACE_DATA, BITNET_TRACE_FILTER) records every eval of this
  // context; false for callers that attach their own recorder (crossval's --trace).
  bool trace_from_environment = true;
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

  std::span<const float> logits() const;       // [rows][n_vocab] of the last eval
  std::span<const float> last_logits() const;  // the last row
  int32_t n_past() const;
  int32_t n_ctx() const;
  int32_t n_vocab() const;
  void reset();                   // empty the KV cache
  void truncate(int32_t n_past);  // keep the first n_past positions
  const Model& model() const { return *model_; }
  const ContextOptions& options() const { return options_; }
  // Replaces the observer (empty = off, no cost), including the BITNET_TRACE_DIR recorder.
  void set_stage_observer(StageObserver observer);
  // The recorder BITNET_TRACE_DIR made for this context (null when tracing is off or replaced).
  const TraceRecorder* environment_trace() const { return env_trace_.get(); }

 private:
  void eval_ubatch(std::span<const int32_t> tokens, bool all_logits, int64_t first_out_row);

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
};

}  // namespace bitnet
