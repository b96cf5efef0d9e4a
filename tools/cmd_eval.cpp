// bitnet eval -m MODEL --tokens 1,2,3 --out FILE [--threads N] [--last] [-c N] [--head-type T]:
// evaluates the tokens in one batch and writes the logits as little-endian float32, row-major
// [n_tokens][n_vocab] (the fixtures' layout), or only the last row with --last.
#include <CLI/CLI.hpp>
#include <bit>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "gpu_layers_option.hpp"
#include "head_type_option.hpp"
#include "kv_cache_option.hpp"
#include "model/context.hpp"
#include "trace_option.hpp"

namespace bitnet::tools {

namespace {
struct EvalOptions {
  std::string model;
  std::string tokens;
  std::string out;
  int threads = 1;
  int32_t n_ctx = 0;  // 0: the number of tokens
  bool last = false;
  bool fast = false;
  bool kv_f32 = false;
  KvCacheTypes cache_types;
  std::optional<int> gpu_layers;  // -ngl
  std::string head_type = "f16";
};

std::vector<int32_t> parse_tokens(const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < INT32_MIN || v > INT32_MAX) {
      throw Error(ErrorCategory::config,
                  "--tokens: '" + item + "' is not a token id (expected e.g. 1,2,3)");
    }
    ids.push_back(static_cast<int32_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

void run_eval(const EvalOptions& opt) {
  static_assert(std::endian::native == std::endian::little,
                "logits files are little-endian float32");
  const auto tokens = parse_tokens(opt.tokens);
  ContextOptions copt;
  copt.n_ctx = opt.n_ctx > 0 ? opt.n_ctx : static_cast<int32_t>(tokens.size());
  copt.n_threads = opt.threads;
  copt.numerics = opt.fast ? Numerics::Fast : Numerics::Reference;
  copt.type_k = opt.kv_f32 ? KvType::F32 : parse_kv_type(opt.cache_types.k);
  copt.type_v = opt.kv_f32 ? KvType::F32 : parse_kv_type(opt.cache_types.v);
  LoadOptions load;
  load.head_type = head_quant_type(opt.head_type);
  load.n_gpu_layers = resolve_gpu_layers(opt.gpu_layers);
  Context ctx(Model::load(opt.model, load), copt);
  ctx.eval(tokens, !opt.last);
  const auto logits = ctx.logits();
  std::ofstream out(opt.out, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(logits.data()),
            static_cast<std::streamsize>(logits.size_bytes()));
  out.close();
  if (!out) throw Error(ErrorCategory::io, "cannot write logits to '" + opt.out + "'");
  std::fprintf(stderr, "eval: %zu tokens, wrote %zu x %d float32 logits to %s\n", tokens.size(),
               logits.size() / static_cast<size_t>(ctx.n_vocab()), ctx.n_vocab(), opt.out.c_str());
}
}  // namespace

void register_eval(CLI::App& app) {
  auto opt = std::make_shared<EvalOptions>();
  auto* cmd =
      app.add_subcommand("eval", "Evaluate token ids in one batch and write the logits (float32)");
  cmd->add_option("-m,--model", opt->model, "GGUF model")->required();
  cmd->add_option("--tokens", opt->tokens, "comma-separated token ids, e.g. 1,2,3")->required();
  cmd->add_option("-o,--out", opt->out, "output file: little-endian float32 [n_tokens][n_vocab]")
      ->required();
  add_poll_option(*cmd);
  cmd->add_option("-t,--threads", opt->threads, "threads")->check(CLI::Range(1, 1024));
  cmd->add_option("-c,--ctx-size", opt->n_ctx, "context size (default: the number of tokens)")
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_flag("--last", opt->last, "write only the last position's logits");
  cmd->add_flag("--fast", opt->fast,
                "fast numerics instead of the reference's (see docs/architecture.md)");
  cmd->add_flag("--kv-f32", opt->kv_f32, "F32 KV cache instead of F16");
  add_head_type_option(*cmd, opt->head_type);
  add_kv_cache_options(*cmd, opt->cache_types);
  add_gpu_layers_option(*cmd, opt->gpu_layers);
  add_trace_filter_option(*cmd);
  cmd->callback([opt] { run_eval(*opt); });
}

}  // namespace bitnet::tools
