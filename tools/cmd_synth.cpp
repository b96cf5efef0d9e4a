// bitnet synth: writes a deterministic synthetic BitNet model (see src/model/synth.hpp).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "gguf/gguf.hpp"
#include "model/synth.hpp"

namespace bitnet::tools {

namespace {
struct SynthCliOptions {
  std::string preset = "tiny";
  std::string type = "i2_s";
  uint64_t seed = 1;
  std::string output;
  std::string tokenizer_from;
  std::string arch;
  int64_t n_layer = 0;
  bool quiet = false;
};

// Progress on stderr for long writes: a rewritten line on a terminal, every 10% otherwise.
class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0) {}
  void operator()(uint64_t done, uint64_t total) {
    if (quiet_ || total < (uint64_t{64} << 20)) return;  // small files finish before anyone looks
    const int percent = static_cast<int>(done * 100 / total);
    if (percent == last_ || (!tty_ && percent / 10 == last_ / 10)) return;
    last_ = percent;
    std::fprintf(stderr,
                 tty_ ? "\rsynth: writing %3d%% (%llu / %llu MB)"
                      : "synth: writing %3d%% (%llu / %llu MB)\n",
                 percent, static_cast<unsigned long long>(done >> 20),
                 static_cast<unsigned long long>(total >> 20));
    if (tty_ && done == total) std::fputc('\n', stderr);
  }

 private:
  bool quiet_;
  bool tty_;
  int last_ = -1;
};

void run_synth(const SynthCliOptions& opt) {
  synth::SynthOptions options;
  options.shape = synth::preset(opt.preset);
  if (!opt.arch.empty()) options.shape.arch = opt.arch;
  if (opt.n_layer > 0) options.shape.n_layer = opt.n_layer;
  const auto type = tensor_type_from_name(opt.type);
  if (!type) throw Error(ErrorCategory::config, "--type: unknown tensor type '" + opt.type + "'");
  options.weight_type = *type;
  options.seed = opt.seed;
  std::shared_ptr<gguf::GgufFile> source;
  if (!opt.tokenizer_from.empty()) {
    source = std::make_shared<gguf::GgufFile>(gguf::GgufFile::open(opt.tokenizer_from));
    options.tokenizer = [source](gguf::GgufWriter& w) { return synth::copy_tokenizer(*source, w); };
  }
  const auto start = std::chrono::steady_clock::now();
  Progress progress(opt.quiet);
  synth::write_synthetic_model(options, opt.output,
                               [&](uint64_t done, uint64_t total) { progress(done, total); });
  if (!opt.quiet) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "synth: wrote %s (%s, %s, seed %llu) in %.1f s\n", opt.output.c_str(),
                 opt.preset.c_str(), std::string(to_string(options.weight_type)).c_str(),
                 static_cast<unsigned long long>(opt.seed), seconds);
  }
}
}  // namespace

void register_synth(CLI::App& app) {
  auto opt = std::make_shared<SynthCliOptions>();
  auto* cmd = app.add_subcommand(
      "synth", "Write a deterministic synthetic BitNet model (random ternary weights)");
  cmd->add_option("--preset", opt->preset, "tiny | 2b4t | 2b-bitnet")
      ->check(CLI::IsMember({"tiny", "2b4t", "2b-bitnet"}))
      ->capture_default_str();
  cmd->add_option("--type", opt->type, "BitLinear weight type: i2_s | tq1_0 | tq2_0 | f16")
      ->check(CLI::IsMember({"i2_s", "tq1_0", "tq2_0", "f16", "I2_S", "TQ1_0", "TQ2_0", "F16"}))
      ->capture_default_str();
  cmd->add_option("--seed,-s", opt->seed,
                  "Random seed (same seed: same ternary weights in every type)")
      ->capture_default_str();
  cmd->add_option("-o,--output", opt->output, "Output GGUF file")->required();
  cmd->add_option("--tokenizer-from", opt->tokenizer_from,
                  "Copy the tokenizer.* metadata (and vocabulary size) of this GGUF; default: a "
                  "built-in byte-level "
                  "vocabulary");
  cmd->add_option("--arch", opt->arch, "Override the preset's architecture")
      ->check(CLI::IsMember({"bitnet-b1.58", "bitnet"}));
  cmd->add_option("--n-layer", opt->n_layer, "Override the preset's layer count")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("-q,--quiet", opt->quiet, "No progress or summary on stderr");
  cmd->callback([opt] { run_synth(*opt); });
}

}  // namespace bitnet::tools
