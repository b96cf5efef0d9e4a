// bitnet run: generate a continuation of a prompt (or, with --chat, one chat reply) and stream it
// to stdout. Exit codes: 0 success (also when Ctrl-C stopped the generation), 1 error (message on
// stderr), CLI11's codes for bad arguments. Timings go to stderr at the end.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "bitnet/bitnet.hpp"
#include "commands.hpp"
#include "generation_cli.hpp"

namespace bitnet::tools {
namespace {

struct RunOptions {
  GenerationCliOptions gen;
  std::string prompt;
  std::string file;
  bool chat = false;
  bool echo = false;
};

// Like llama-cli's -f: the file's bytes, minus one trailing newline.
std::string read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io, path + ": cannot open the prompt file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

bool write_piece(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
  return !interrupted();
}

void run(RunOptions& opt) {
  if (!opt.file.empty()) opt.prompt = read_prompt_file(opt.file);
  const auto config = generation_config(opt.gen);
  double load_ms = 0;
  const auto model = load_model(opt.gen, &load_ms);
  Engine engine(model, engine_config(opt.gen));
  if (opt.gen.verbose) std::fprintf(stderr, "backend: %s\n", engine.stats().backend.c_str());

  install_interrupt_handler();
  if (opt.echo) write_piece(opt.prompt);
  GenerationResult result;
  if (opt.chat) {
    Chat chat(engine, opt.gen.system, opt.gen.chat_template);
    result = chat.send(opt.prompt, config, write_piece);
  } else {
    result = engine.generate_stream(opt.prompt, config, write_piece);
  }
  std::fflush(stdout);
  print_timings(result, load_ms);
}

}  // namespace

void register_run(CLI::App& app) {
  auto opt = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt, streamed to stdout");
  add_generation_options(*cmd, opt->gen);
  auto* prompt = cmd->add_option("-p,--prompt", opt->prompt, "the prompt");
  auto* file = cmd->add_option("-f,--file", opt->file, "read the prompt from a file");
  prompt->excludes(file);
  cmd->add_flag("--chat", opt->chat, "wrap the prompt in the model's chat template (--system)");
  cmd->add_flag("--echo", opt->echo, "print the prompt before the generated text");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace bitnet::tools
