// The native side: our engine in process. Tokenizes with the model's tokenizer (or --tokenizer)
// exactly as the CLI does, and evaluates through Context, the same path `bitnet run` takes.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "bitnet/error.hpp"
#include "crossval/backend.hpp"
#include "model/context.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "trace/trace_recorder.hpp"

namespace bitnet::crossval {
namespace {

// The layers to offload are resolved by the caller (crossval-per-token: -ngl, else
// BITNET_GPU_LAYERS); what cannot be offloaded runs on the CPU and Model::load says so.
LoadOptions load_options(const NativeOptions& o) {
  LoadOptions load;
  load.n_gpu_layers = o.n_gpu_layers;
  return load;
}

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

class NativeBackend final : public Backend {
 public:
  explicit NativeBackend(const NativeOptions& o)
      : name_(o.name),
        model_(Model::load(o.model_path, load_options(o))),
        tokenizer_(o.tokenizer_path.empty() ? tokenizer::Tokenizer::from_gguf(model_->file())
                                            : tokenizer::Tokenizer::from_path(o.tokenizer_path)),
        tokenizer_source_(o.tokenizer_path.empty() ? o.model_path : o.tokenizer_path) {
    ContextOptions copt;
    const auto train_ctx = model_->config().n_ctx_train;
    copt.n_ctx =
        train_ctx > 0 ? static_cast<int32_t>(std::min<int64_t>(o.n_ctx, train_ctx)) : o.n_ctx;
    copt.n_threads = o.n_threads > 0 ? o.n_threads : default_threads();
    // Without --trace the context traces itself when BITNET_TRACE_DIR is set, as everywhere.
    copt.trace_from_environment = o.trace_dir.empty();
    context_ = std::make_unique<Context>(model_, copt);
    if (!o.trace_dir.empty()) {
      recorder_ = TraceRecorder::from_flag_or_environment(o.trace_dir, /*save_data=*/false);
      context_->set_stage_observer(recorder_->observer());
    }
    if (tokenizer_.n_vocab() > context_->n_vocab()) {
      // Ids the model has no row for would make eval throw mid-run; say it now.
      throw Error(ErrorCategory::tokenizer, tokenizer_source_ + ": tokenizer has " +
                                                std::to_string(tokenizer_.n_vocab()) +
                                                " tokens but the model's vocabulary is " +
                                                std::to_string(context_->n_vocab()));
    }
  }

  const std::string& name() const override { return name_; }
  int32_t vocab() const override { return context_->n_vocab(); }

  std::vector<int32_t> tokenize(const std::string& text, bool add_bos) override {
    return tokenizer_.encode(text, add_bos, /*parse_special=*/true);
  }

  TokenizeSettings tokenize_settings(bool add_bos) const override {
    return {add_bos, true, tokenizer_source_};
  }

  std::optional<bool> add_bos_default() const override { return tokenizer_.add_bos_default(); }

  void eval_all(std::span<const int32_t> tokens, std::vector<float>& logits) override {
    context_->reset();
    context_->eval(tokens, /*all_logits=*/true);
    const auto out = context_->logits();
    logits.assign(out.begin(), out.end());
    if (recorder_) recorder_->flush();
  }

  bool eval_last(std::span<const int32_t> tokens, std::vector<float>& logits) override {
    context_->eval(tokens, /*all_logits=*/false);
    const auto out = context_->last_logits();
    logits.assign(out.begin(), out.end());
    if (recorder_) recorder_->flush();
    return true;
  }

  void reset() override { context_->reset(); }

  std::optional<std::string> token_piece(int32_t id) const override {
    if (id < 0 || id >= tokenizer_.n_vocab()) return std::nullopt;
    return tokenizer_.token_to_piece(id);
  }

 private:
  std::string name_;
  std::shared_ptr<const Model> model_;
  tokenizer::Tokenizer tokenizer_;
  std::string tokenizer_source_;
  std::unique_ptr<Context> context_;
  std::unique_ptr<TraceRecorder> recorder_;  // the observer runs only inside eval
};

}  // namespace

std::unique_ptr<Backend> open_native(const NativeOptions& options) {
  return std::make_unique<NativeBackend>(options);
}

}  // namespace bitnet::crossval
