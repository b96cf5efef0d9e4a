// build/bin/bitnet: one binary, one subcommand per job (run, chat, tokenize, inspect, ...).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <exception>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "kernels/omp_policy.hpp"

namespace bitnet::tools {
CLI::Option* add_poll_option(CLI::App& cmd) {
  static int ignored = 50;  // applied in main() before parsing; declared so CLI11 accepts it
  return cmd
      .add_option("--poll", ignored,
                  "0-100: how long idle threads spin before sleeping (0 = sleep at once, for cores "
                  "shared with other busy work; default 50)")
      ->check(CLI::Range(0, 100));
}
}  // namespace bitnet::tools

namespace {
// llama.cpp's multi-letter short flags, which CLI11 cannot declare, as their long names.
void translate_llama_short_flags(int argc, char** argv) {
  static char parallel[] = "--parallel";
  static char cache_type_k[] = "--cache-type-k";
  static char cache_type_v[] = "--cache-type-v";
  static char n_gpu_layers[] = "--n-gpu-layers";
  struct Alias {
    const char* short_name;
    char* long_name;
  };
  static const Alias aliases[] = {
      {"-np", parallel}, {"-ctk", cache_type_k}, {"-ctv", cache_type_v}, {"-ngl", n_gpu_layers}};
  for (int i = 1; i < argc; ++i) {
    for (const Alias& a : aliases) {
      if (std::strcmp(argv[i], a.short_name) == 0) argv[i] = a.long_name;
    }
  }
}
}  // namespace

int main(int argc, char** argv) {
  bitnet::kernels::apply_omp_wait_defaults(argv);  // docs/performance.md, "Threads"
  translate_llama_short_flags(argc, argv);
  CLI::App app{"bitnet: inference and cross-validation for BitNet b1.58 models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", BITNET_CLI_VERSION);
  bitnet::tools::register_inspect(app);
  bitnet::tools::register_trace_diff(app);
  bitnet::tools::register_synth(app);
  bitnet::tools::register_eval(app);
  bitnet::tools::register_tokenize(app);
  bitnet::tools::register_crossval(app);
  bitnet::tools::register_bench(app);
  bitnet::tools::register_run(app);
  bitnet::tools::register_chat(app);
  bitnet::tools::register_convert(app);
  bitnet::tools::register_serve(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const bitnet::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", bitnet::to_string(e.category()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
