// bitnet convert: a Hugging Face BitNet checkpoint folder to GGUF (src/convert, docs/convert.md).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "convert/convert.hpp"

namespace bitnet::tools {

namespace {
struct ConvertCliOptions {
  std::string hf_dir;
  std::string output;
  std::string type = "i2_s";
  std::string head_type;
  std::string name;
  bool force_quantize = false;
  bool quiet = false;
};

void run_convert(const ConvertCliOptions& opt) {
  convert::ConvertOptions o;
  o.hf_dir = opt.hf_dir;
  o.output = opt.output;
  o.type = *tensor_type_from_name(opt.type);
  if (!opt.head_type.empty()) o.head_type = *tensor_type_from_name(opt.head_type);
  o.name = opt.name;
  o.force_quantize = opt.force_quantize;
  o.warn = [](const std::string& m) { std::fprintf(stderr, "convert: warning: %s\n", m.c_str()); };
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  int last = -1;
  if (!opt.quiet && tty) {
    o.progress = [&last](uint64_t done, uint64_t total) {
      const int percent = total ? static_cast<int>(done * 100 / total) : 100;
      if (percent == last) return;
      last = percent;
      constexpr int kWidth = 40;
      const int fill = percent * kWidth / 100;
      std::fprintf(stderr, "\rconvert: [%.*s%*s] %3d%% (%llu / %llu MB)", fill,
                   "########################################", kWidth - fill, "", percent,
                   static_cast<unsigned long long>(done >> 20),
                   static_cast<unsigned long long>(total >> 20));
      if (done == total) std::fputc('\n', stderr);
    };
  }
  const auto start = std::chrono::steady_clock::now();
  const auto s = convert::convert_checkpoint(o);
  if (!opt.quiet) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr,
                 "convert: %s -> %s: %s, arch %s, %s weights, pre-tokenizer %s, %lld tensors, "
                 "%.1f MB in %.1f s\n",
                 opt.hf_dir.c_str(), opt.output.c_str(), s.checkpoint_class.c_str(), s.arch.c_str(),
                 std::string(to_string(o.type)).c_str(), s.pre_tokenizer.c_str(),
                 static_cast<long long>(s.n_tensors), static_cast<double>(s.file_bytes) / 1e6,
                 seconds);
  }
}
}  // namespace

void register_convert(CLI::App& app) {
  auto opt = std::make_shared<ConvertCliOptions>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert a Hugging Face BitNet checkpoint folder (safetensors) to GGUF");
  cmd->add_option("HF_DIR", opt->hf_dir, "Folder with config.json, *.safetensors, tokenizer files")
      ->required();
  cmd->add_option("-o,--output", opt->output, "Output GGUF file")->required();
  cmd->add_option("--type", opt->type, "BitLinear weight type: i2_s | tq1_0 | tq2_0 | f16")
      ->check(CLI::IsMember({"i2_s", "tq1_0", "tq2_0", "f16", "I2_S", "TQ1_0", "TQ2_0", "F16"}))
      ->capture_default_str();
  cmd->add_option("--head-type", opt->head_type,
                  "Type of the output head (token_embd when tied): f16 (default) | q8_0 | q6_k")
      ->check(CLI::IsMember({"f16", "q8_0", "q6_k", "F16", "Q8_0", "Q6_K"}));
  cmd->add_option("--name", opt->name, "general.name (default: the folder's name)");
  cmd->add_flag("--force-quantize", opt->force_quantize,
                "Quantize weights that were not trained ternary (the result will be poor)");
  cmd->add_flag("-q,--quiet", opt->quiet, "No progress or summary on stderr");
  cmd->callback([opt] { run_convert(*opt); });
}

}  // namespace bitnet::tools
