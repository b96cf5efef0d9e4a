// What `bitnet run` and `bitnet chat` share: model/engine/sampling flags with llama.cpp's names,
// the load progress bar and the llama-cli-style timing report.
#pragma once

#include <string>
#include <vector>

#include "bitnet/bitnet.hpp"
#include "gpu_layers_option.hpp"
#include "kv_cache_option.hpp"

namespace CLI {
class App;
}

namespace bitnet::tools {

struct GenerationCliOptions {
  std::string model;
  std::string tokenizer;  // --tokenizer: tokenizer.json or GGUF instead of the model's
  bool greedy = false;    // --greedy = --temp 0
  int32_t n_predict = -1;
  int32_t n_ctx = 4096;
  int n_threads = 0;
  std::string sampling;  // preset: greedy, balanced, creative
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  int64_t seed = -1;
  std::vector<std::string> stop;
  bool context_shift = false;
  int32_t n_keep = 0;
  bool ignore_eos = false;
  bool special = false;
  bool no_mmap = false;
  bool fast_numerics = false;
  std::string head_type = "f16";  // --head-type: f16 (as stored), q8_0, q6_k
  KvCacheTypes cache_types;       // -ctk / -ctv
  std::optional<int> gpu_layers;  // -ngl
  std::string chat_template = "auto";
  std::string system;
  bool verbose = false;
  CLI::App* app = nullptr;  // to tell given flags from defaults
};

void add_generation_options(CLI::App& cmd, GenerationCliOptions& opt);
// The sampling preset (if any) with every flag given on the command line applied over it.
GenerationConfig generation_config(const GenerationCliOptions& opt);
EngineConfig engine_config(const GenerationCliOptions& opt);
// Loads the model with a progress bar on stderr when stderr is a terminal. Returns the load time.
Model load_model(const GenerationCliOptions& opt, double* load_ms);
// Prints the timings of one generation to stderr, like llama-cli's llama_perf_context_print.
void print_timings(const GenerationResult& result, double load_ms);

// Ctrl-C: the first one sets the flag (the generation callback checks it and cancels); the
// handler stays installed, so it never kills the program. The flag is the one global a signal
// handler needs.
void install_interrupt_handler();
bool interrupted();
void clear_interrupt();

}  // namespace bitnet::tools
