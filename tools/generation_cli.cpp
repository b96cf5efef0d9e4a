#include "generation_cli.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>

#include "commands.hpp"
#include "head_type_option.hpp"
#include "trace_option.hpp"

namespace bitnet::tools {
namespace {

std::atomic<bool> g_interrupted{false};  // set by the SIGINT handler only

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
}

bool given(const GenerationCliOptions& opt, const char* name) {
  return opt.app != nullptr && opt.app->count(name) > 0;
}

void draw_progress(float fraction) {
  const int width = 40;
  const int filled = static_cast<int>(fraction * width + 0.5f);
  std::fprintf(stderr, "\rloading [%.*s%*s] %3d%%", filled,
               "########################################", width - filled, "",
               static_cast<int>(fraction * 100.0f + 0.5f));
  if (fraction >= 1.0f) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace

void add_generation_options(CLI::App& cmd, GenerationCliOptions& opt) {
  opt.app = &cmd;
  cmd.add_option("-m,--model", opt.model, "GGUF model file")->required();
  cmd.add_option("--tokenizer", opt.tokenizer,
                 "tokenizer.json or GGUF to tokenize with instead of the model's");
  cmd.add_option("-n,--n-predict,--max-tokens", opt.n_predict,
                 "tokens to generate (-1: until EOS, a stop string or a full context)")
      ->capture_default_str();
  cmd.add_option("-c,--ctx-size", opt.n_ctx, "context length in tokens (0: the model's)")
      ->capture_default_str();
  add_poll_option(cmd);
  cmd.add_option("-t,--threads", opt.n_threads, "threads (0: all hardware threads)")
      ->capture_default_str();
  add_gpu_layers_option(cmd, opt.gpu_layers);
  cmd.add_option("--sampling", opt.sampling, "sampling preset, overridden by the flags below")
      ->check(CLI::IsMember({"greedy", "balanced", "creative"}));
  auto* temp =
      cmd.add_option("--temp", opt.temperature, "temperature (0: greedy)")->capture_default_str();
  cmd.add_flag("--greedy", opt.greedy, "greedy decoding (= --temp 0)")->excludes(temp);
  cmd.add_option("--top-k", opt.top_k, "top-k (0: off)")->capture_default_str();
  cmd.add_option("--top-p", opt.top_p, "top-p (1: off)")->capture_default_str();
  cmd.add_option("--min-p", opt.min_p, "min-p (0: off)")->capture_default_str();
  cmd.add_option("--repeat-penalty", opt.repeat_penalty, "repetition penalty (1: off)")
      ->capture_default_str();
  cmd.add_option("--repeat-last-n", opt.repeat_last_n,
                 "tokens the penalty looks back (0: off, -1: the whole context)")
      ->capture_default_str();
  cmd.add_option("-s,--seed", opt.seed, "random seed (-1: random)")->capture_default_str();
  cmd.add_option("--stop", opt.stop, "stop generating at this text (repeatable; not printed)");
  cmd.add_flag("--context-shift", opt.context_shift,
               "when the context is full, drop the oldest half (after --keep) and continue");
  cmd.add_option("--keep", opt.n_keep,
                 "with --context-shift: prompt tokens kept after BOS (-1: all)")
      ->capture_default_str();
  cmd.add_flag("--ignore-eos", opt.ignore_eos, "do not stop at end-of-generation tokens");
  cmd.add_flag("--special", opt.special, "print special tokens as their text");
  cmd.add_flag("--no-mmap", opt.no_mmap, "read the whole model at load time");
  cmd.add_flag("--fast-numerics", opt.fast_numerics,
               "skip the reference's batch-size-dependent roundings");
  add_head_type_option(cmd, opt.head_type);
  add_kv_cache_options(cmd, opt.cache_types);
  cmd.add_option("--chat-template", opt.chat_template,
                 "auto (the model's), llama3, bitnet, llama2 or raw")
      ->capture_default_str();
  cmd.add_option("--system", opt.system, "system prompt (chat)");
  add_trace_filter_option(cmd);
  cmd.add_flag("-v,--verbose", opt.verbose, "more information on stderr");
}

GenerationConfig generation_config(const GenerationCliOptions& opt) {
  GenerationConfig c;
  if (opt.sampling == "greedy") c = GenerationConfig::greedy();
  if (opt.sampling == "balanced") c = GenerationConfig::balanced();
  if (opt.sampling == "creative") c = GenerationConfig::creative();
  const bool preset = !opt.sampling.empty();
  if (!preset || given(opt, "--temp")) c.temperature = opt.temperature;
  if (opt.greedy) c.temperature = 0.0f;
  if (!preset || given(opt, "--top-k")) c.top_k = opt.top_k;
  if (!preset || given(opt, "--top-p")) c.top_p = opt.top_p;
  if (!preset || given(opt, "--min-p")) c.min_p = opt.min_p;
  if (!preset || given(opt, "--repeat-penalty")) c.repeat_penalty = opt.repeat_penalty;
  if (!preset || given(opt, "--repeat-last-n")) c.repeat_last_n = opt.repeat_last_n;
  c.max_new_tokens = opt.n_predict;
  c.seed = opt.seed < 0 ? kRandomSeed : static_cast<uint32_t>(opt.seed);
  c.stop = opt.stop;
  c.ignore_eos = opt.ignore_eos;
  c.skip_special_tokens = !opt.special;
  c.on_context_full = opt.context_shift ? ContextOverflow::shift : ContextOverflow::error;
  c.n_keep = opt.n_keep;
  c.validate();
  return c;
}

EngineConfig engine_config(const GenerationCliOptions& opt) {
  EngineConfig c;
  c.n_ctx = opt.n_ctx;
  c.n_threads = opt.n_threads;
  c.reference_numerics = !opt.fast_numerics;
  c.cache_type_k = opt.cache_types.k;
  c.cache_type_v = opt.cache_types.v;
  return c;
}

Model load_model(const GenerationCliOptions& opt, double* load_ms) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadConfig config;
  config.use_mmap = !opt.no_mmap;
  config.head_type = parse_head_type(opt.head_type);
  config.tokenizer_path = opt.tokenizer;
  config.n_gpu_layers = opt.gpu_layers;
  if (isatty(STDERR_FILENO)) config.progress = draw_progress;
  auto model = Model::load(opt.model, config);
  *load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (opt.verbose) {
    const auto& info = model.info();
    std::fprintf(
        stderr, "model: %s (%s), %.2f M params, %.2f MiB, %s, %.2f bits/weight, head %s, %s\n",
        info.name.empty() ? info.path.c_str() : info.name.c_str(), info.arch.c_str(),
        static_cast<double>(info.n_params) / 1e6,
        static_cast<double>(info.file_bytes) / (1024.0 * 1024.0), info.quantization.c_str(),
        info.bits_per_weight, info.head_type.c_str(), info.offload.c_str());
  }
  return model;
}

void print_timings(const GenerationResult& r, double load_ms) {
  const auto& m = r.metrics;
  const auto per_token = [](double ms, int n) { return n > 0 ? ms / n : 0.0; };
  const auto per_second = [](double ms, int n) { return ms > 0 ? 1000.0 * n / ms : 0.0; };
  std::fprintf(stderr, "\n");
  std::fprintf(stderr, "bitnet: load time        = %10.2f ms\n", load_ms);
  std::fprintf(stderr,
               "bitnet: prompt eval time = %10.2f ms / %5d tokens (%8.2f ms per token, %8.2f "
               "tokens per second)\n",
               m.prompt_ms, m.prompt_tokens_evaluated,
               per_token(m.prompt_ms, m.prompt_tokens_evaluated),
               per_second(m.prompt_ms, m.prompt_tokens_evaluated));
  std::fprintf(stderr,
               "bitnet: eval time        = %10.2f ms / %5d runs   (%8.2f ms per token, %8.2f "
               "tokens per second)\n",
               m.decode_ms, m.decode_steps, per_token(m.decode_ms, m.decode_steps),
               per_second(m.decode_ms, m.decode_steps));
  std::fprintf(stderr, "bitnet: sampling time    = %10.2f ms / %5d tokens\n", m.sample_ms,
               m.generated_tokens + (r.finish_reason == FinishReason::eos ? 1 : 0));
  std::fprintf(stderr, "bitnet: time to first token = %7.2f ms\n", m.time_to_first_token_ms);
  std::fprintf(stderr, "bitnet: total time       = %10.2f ms / %5d tokens\n", m.total_ms,
               m.prompt_tokens_evaluated + m.generated_tokens);
  std::fprintf(stderr, "bitnet: peak memory      = %10.2f MiB\n",
               static_cast<double>(m.peak_memory_bytes) / (1024.0 * 1024.0));
  std::fprintf(stderr, "bitnet: finish reason    = %s (seed %u)\n", to_string(r.finish_reason),
               r.seed);
}

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking read of stdin returns with EINTR
  sigaction(SIGINT, &action, nullptr);
}

bool interrupted() {
  return g_interrupted.load();
}
void clear_interrupt() {
  g_interrupted.store(false);
}

}  // namespace bitnet::tools
