// bitnet chat: an interactive multi-turn conversation in the model's chat template. The KV cache is
// kept between turns, so each turn processes only its own tokens. Commands: /reset (forget the
// conversation), /exit. Ctrl-C stops the current answer; Ctrl-D (end of input) exits.
// Exit codes: 0 at end of input or /exit, 1 error, CLI11's codes for bad arguments.
#include <poll.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "bitnet/bitnet.hpp"
#include "commands.hpp"
#include "generation_cli.hpp"

namespace bitnet::tools {
namespace {

enum class ReadStatus { line, interrupted, end };

// One line of stdin without its newline. A Ctrl-C while waiting is reported, not fatal. The flag is
// checked before every wait and the wait is a poll with a timeout: a SIGINT that lands after the
// prompt is printed but before read() blocks would otherwise be lost (stdin is unbuffered, so an
// empty poll means fgetc would block).
ReadStatus read_line(std::string& line) {
  line.clear();
  for (;;) {
    if (interrupted()) return ReadStatus::interrupted;
    pollfd input{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&input, 1, 100);
    if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    errno = 0;
    const int c = std::fgetc(stdin);
    if (c == EOF) {
      if (std::ferror(stdin) && errno == EINTR) {
        std::clearerr(stdin);
        return ReadStatus::interrupted;
      }
      return line.empty() ? ReadStatus::end : ReadStatus::line;
    }
    if (c == '\n') return ReadStatus::line;
    line += static_cast<char>(c);
  }
}

bool write_piece(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
  return !interrupted();
}

void print_turn(int turn, const GenerationResult& r) {
  const auto& m = r.metrics;
  std::fprintf(stderr,
               "[turn %d: prompt %d tokens, %d processed, %d from cache; generated %d (%s); "
               "%.2f tokens/s prompt, %.2f tokens/s generation]\n",
               turn, m.prompt_tokens, m.prompt_tokens_evaluated,
               m.prompt_tokens - m.prompt_tokens_evaluated, m.generated_tokens,
               to_string(r.finish_reason), m.prompt_tokens_per_s, m.generation_tokens_per_s);
}

void run_chat(GenerationCliOptions& opt) {
  const auto config = generation_config(opt);
  double load_ms = 0;
  const auto model = load_model(opt, &load_ms);
  Engine engine(model, engine_config(opt));
  Chat chat(engine, opt.system, opt.chat_template);
  install_interrupt_handler();
  std::setvbuf(stdin, nullptr, _IONBF, 0);  // see read_line
  std::fprintf(stderr,
               "chat ready: /reset forgets the conversation, Ctrl-C stops an answer, "
               "Ctrl-D exits\n");

  std::string line;
  int turn = 0;
  for (;;) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    const auto status = read_line(line);
    if (status == ReadStatus::end) break;
    if (status == ReadStatus::interrupted) {
      clear_interrupt();
      std::fputs("\n(Ctrl-D or /exit to quit)\n", stdout);
      continue;
    }
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      chat.reset();
      engine.clear_cache();
      turn = 0;
      std::fputs("(conversation reset)\n", stdout);
      continue;
    }
    clear_interrupt();
    GenerationResult result;
    try {
      result = chat.send(line, config, write_piece);
    } catch (const Error& e) {
      // The conversation is unchanged (the message was not added): the user can /reset or go on.
      std::fprintf(stderr, "\nerror (%s): %s%s\n", to_string(e.category()), e.what(),
                   e.category() == ErrorCategory::capacity ? " (/reset starts over)" : "");
      clear_interrupt();
      continue;
    }
    if (result.finish_reason == FinishReason::cancelled) std::fputs(" (stopped)", stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    clear_interrupt();
    ++turn;
    if (opt.verbose) print_turn(turn, result);
  }
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace

void register_chat(CLI::App& app) {
  auto opt = std::make_shared<GenerationCliOptions>();
  auto* cmd = app.add_subcommand("chat", "Interactive multi-turn chat with the model's template");
  add_generation_options(*cmd, *opt);
  cmd->callback([opt] { run_chat(*opt); });
}

}  // namespace bitnet::tools
