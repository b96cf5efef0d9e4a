// One side of a cross-validation: something that tokenizes a prompt and produces logits. The same
// small interface is implemented by our engine (native), by any library exposing the session ABI
// (include/bitnet/crossval_session.h; the reference adapter is one), and by recorded golden files.
// Errors are bitnet::Error with the backend's name in the message.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace bitnet::crossval {

// How a side turned the prompt into tokens; shown when the two sides disagree.
struct TokenizeSettings {
  bool add_bos = true;
  bool parse_special = true;
  std::string source;  // where the tokenizer came from (model file, tokenizer.json, golden tokens)
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "native", "golden:PATH", "lib:PATH": the name used in reports and error messages.
  virtual const std::string& name() const = 0;
  virtual int32_t vocab() const = 0;

  // The prompt's tokens, special tokens parsed, BOS prepended when add_bos (a golden file returns
  // its recorded tokens whatever is asked: the report shows its recorded settings instead).
  virtual std::vector<int32_t> tokenize(const std::string& text, bool add_bos) = 0;
  virtual TokenizeSettings tokenize_settings(bool add_bos) const = 0;
  // Whether this side's tokenizer adds BOS by default, when it knows (the CLI's default).
  virtual std::optional<bool> add_bos_default() const { return std::nullopt; }

  // Empties the cache and evaluates `tokens` in one batch; logits gets [tokens.size()][vocab()].
  virtual void eval_all(std::span<const int32_t> tokens, std::vector<float>& logits) = 0;

  // Appends `tokens` after what was evaluated so far and writes the last position's logits
  // (vocab() floats). Returns false when this side has no logits for that position (a golden
  // file past its recorded rows); the tokens still count as evaluated.
  virtual bool eval_last(std::span<const int32_t> tokens, std::vector<float>& logits) = 0;

  virtual void reset() = 0;

  // A recorded continuation to compare generated positions against (golden files with a greedy
  // record); empty for live backends, which are compared on side A's own greedy tokens.
  virtual std::vector<int32_t> recorded_continuation() const { return {}; }

  // The bytes a token stands for, when this side knows them.
  virtual std::optional<std::string> token_piece(int32_t id) const = 0;
};

struct NativeOptions {
  std::string name = "native";  // as reports name the side
  std::string model_path;
  std::string tokenizer_path;  // empty: the model's own tokenizer
  int32_t n_ctx = 4096;
  int n_threads = 0;  // <= 0: all hardware threads
  int n_gpu_layers = 0;  // resolved (resolve_gpu_layers): -1 = all
  std::string trace_dir;  // non-empty: record per-layer traces of every eval there
};

// Our engine, in process (Model + Context + Tokenizer).
std::unique_ptr<Backend> open_native(const NativeOptions& options);

// Any shared library exposing the session ABI, loaded with dlopen; every function is looked up
// by name and a missing one is an error naming it. The library tokenizes with its own tokenizer.
std::unique_ptr<Backend> open_library(const std::string& library_path,
                                      const std::string& model_path, int32_t n_ctx,
                                      int n_gpu_layers, int n_threads);

// libbitnet_reference.so (built only when BITNET_CPP_DIR is configured), looked up next to the
// running executable's libbitnet (../lib, then the executable's directory); an Error(config)
// saying how to build it when absent.
std::string find_reference_library();

// A golden file: the fixtures' JSON and the logits file its `logits_file` names (float32 or
// float16 per `logits_dtype`), row-major [n_tokens][n_vocab].
std::unique_ptr<Backend> open_golden(const std::string& json_path);

// The prompt recorded in a golden file (so --prompt may be left out with --b golden:FILE).
std::string golden_prompt(const std::string& json_path);

}  // namespace bitnet::crossval
