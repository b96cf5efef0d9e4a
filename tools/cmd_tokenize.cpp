// bitnet tokenize: text to token ids with a model's tokenizer (GGUF) or a tokenizer.json.
// Exit codes: 0 success, 1 error (message on stderr), CLI11's codes for bad arguments.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::tools {

namespace {
struct TokenizeOptions {
  std::string model;
  std::string tokenizer_json;
  std::string prompt;
  std::string file;
  bool ids = false;
  bool pieces = false;
  bool json = false;
  bool no_bos = false;
  bool bos = false;
  bool parse_special = false;
  bool jsonl = false;
};

std::string read_input(const std::string& file) {
  if (file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCategory::io, file + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

tokenizer::Tokenizer load(const TokenizeOptions& opt) {
  if (!opt.model.empty()) return tokenizer::Tokenizer::from_gguf_path(opt.model);
  return tokenizer::Tokenizer::from_path(opt.tokenizer_json);
}

std::string json_string(const std::string& bytes) {
  return nlohmann::json(bytes).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_ids(std::string& out, const std::vector<tokenizer::TokenId>& ids, const char* sep) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += sep;
    out += std::to_string(ids[i]);
  }
}

// Batch mode: one JSON object with a "text" field per input line, one {"ids":[...]} per output
// line.
void run_jsonl(const tokenizer::Tokenizer& tok, const TokenizeOptions& opt) {
  std::string line;
  std::string out;
  size_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    std::string text;
    try {
      text = nlohmann::json::parse(line).at("text").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCategory::io,
                  "stdin line " + std::to_string(line_number) +
                      ": expected a JSON object with a string 'text': " + e.what());
    }
    const auto ids = tok.encode(text, opt.bos, opt.parse_special);
    out = "{\"ids\":[";
    append_ids(out, ids, ",");
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
}

void run_tokenize(const TokenizeOptions& opt) {
  const auto tok = load(opt);
  if (opt.jsonl) {
    run_jsonl(tok, opt);
    return;
  }
  const std::string text = opt.file.empty() ? opt.prompt : read_input(opt.file);
  const bool add_bos = opt.bos || (!opt.no_bos && tok.add_bos_default());
  const auto ids = tok.encode(text, add_bos, opt.parse_special);

  std::string out;
  if (opt.ids) {
    out = "[";
    append_ids(out, ids, ", ");
    out += "]\n";
  } else if (opt.json) {
    out = "{\"ids\":[";
    append_ids(out, ids, ",");
    out += "],\"pieces\":[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ",";
      out += json_string(tok.token_to_piece(ids[i]));
    }
    out += "],\"n_tokens\":" + std::to_string(ids.size()) + "}\n";
  } else {
    for (const auto id : ids) {
      const auto piece = json_string(tok.token_to_piece(id));
      if (opt.pieces) {
        out += piece + "\n";
      } else {
        char number[16];
        std::snprintf(number, sizeof number, "%6d", id);
        out += std::string(number) + " -> " + piece + "\n";
      }
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}
}  // namespace

void register_tokenize(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  auto* cmd =
      app.add_subcommand("tokenize", "Turn text into token ids (GGUF model or tokenizer.json)");
  auto* model =
      cmd->add_option("-m,--model", opt->model, "GGUF model (its tokenizer.ggml.* metadata)");
  auto* json = cmd->add_option("--tokenizer", opt->tokenizer_json,
                               "Hugging Face tokenizer.json (or a GGUF) instead of a model");
  model->excludes(json);
  auto* prompt = cmd->add_option("-p,--prompt", opt->prompt, "Text to tokenize");
  auto* file = cmd->add_option("-f,--file", opt->file, "Read the text from FILE ('-' for stdin)");
  prompt->excludes(file);
  auto* ids = cmd->add_flag("--ids", opt->ids, "Print only the ids, as [a, b, c]");
  auto* pieces =
      cmd->add_flag("--pieces", opt->pieces, "Print each token's text (JSON string) per line");
  auto* as_json = cmd->add_flag("--json", opt->json, "Print {\"ids\":[...],\"pieces\":[...]}");
  ids->excludes(pieces, as_json);
  pieces->excludes(as_json);
  auto* no_bos =
      cmd->add_flag("--no-bos", opt->no_bos, "Do not add BOS (default: the model's add_bos_token)");
  auto* bos = cmd->add_flag("--bos", opt->bos, "Add BOS (the only way to get BOS with --jsonl)");
  no_bos->excludes(bos);
  cmd->add_flag("--parse-special", opt->parse_special,
                "Text such as <|eot_id|> becomes its special token (otherwise plain text)");
  auto* jsonl = cmd->add_flag(
      "--jsonl", opt->jsonl,
      "Batch: JSON lines with a 'text' field on stdin -> one {\"ids\":[...]} per line");
  jsonl->excludes(prompt, file, ids, pieces, as_json);
  cmd->callback([opt, cmd] {
    if (opt->model.empty() && opt->tokenizer_json.empty()) {
      throw CLI::RequiredError("-m/--model or --tokenizer");
    }
    if (!opt->jsonl && opt->prompt.empty() && opt->file.empty() && cmd->count("--prompt") == 0) {
      throw CLI::RequiredError("-p/--prompt, -f/--file or --jsonl");
    }
    run_tokenize(*opt);
  });
}

}  // namespace bitnet::tools
