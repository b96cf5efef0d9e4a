// The CLI's subcommands, one file each (tools/cmd_<name>.cpp). Each registers itself on the app
// and runs from its callback; errors propagate as bitnet::Error and become exit code 1 in main().
#pragma once

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace bitnet::tools {

void register_inspect(CLI::App& app);
void register_trace_diff(CLI::App& app);
void register_synth(CLI::App& app);
void register_eval(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_crossval(CLI::App& app);
void register_bench(CLI::App& app);
void register_run(CLI::App& app);
void register_chat(CLI::App& app);
void register_convert(CLI::App& app);
void register_serve(CLI::App& app);

// `--poll 0..100` (llama.cpp's flag): how long idle threads spin before sleeping. main() applies it
// before anything runs (kernels::apply_omp_wait_defaults); the subcommands only declare it.
CLI::Option* add_poll_option(CLI::App& cmd);

}  // namespace bitnet::tools
