// bitnet-cxx C++ API: load a BitNet b1.58 model, generate text from it.
//
//   auto model = bitnet::Model::load("model.gguf");
//   bitnet::EngineConfig config;
//   config.n_threads = 4;
//   bitnet::Engine engine(model, config);
//   auto result = engine.generate_stream("Hello", bitnet::GenerationConfig::greedy(),
//                                        [](std::string_view piece) {
//                                          std::fwrite(piece.data(), 1, piece.size(), stdout);
//                                          return true;  // false cancels
//                                        });
//
// A Model is an immutable, cheaply copyable handle: copies share one set of weights, so several
// Engines (each with its own KV cache and threads) can serve the same model. An Engine runs one
// generation at a time. Every failure throws bitnet::Error with a category (error.hpp).
// This header includes only the standard library and the other bitnet/ headers.
#pragma once

#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bitnet/error.hpp"
#include "bitnet/generation.hpp"

// The API lives in bitnet::api and is brought into bitnet, so users write bitnet::Model. The
// library's own sources define BITNET_API_NO_NAMESPACE_ALIASES because its internal model class is
// also called bitnet::Model.
namespace bitnet::api {

using TokenId = int32_t;

// Where computation runs. "cuda:N" names a CUDA device; available_devices() lists those the
// runtime reports, with their memory and compute capability. Placing a model or an engine on a
// CUDA device throws Error(device) until the CUDA layer loop exists: layers are offloaded with
// LoadConfig::n_gpu_layers, which falls back to the CPU and says why.
struct Device {
  enum class Kind { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;
  // Filled in by available_devices() for CUDA devices (empty / 0 otherwise).
  std::string description;  // "NVIDIA H200"
  int64_t total_memory = 0;
  int64_t free_memory = 0;  // when the library first asked the runtime
  int compute_major = 0;    // compute capability, e.g. 9.0
  int compute_minor = 0;

  static Device cpu() { return {}; }
  static Device cuda(int index) {
    Device d;
    d.kind = Kind::cuda;
    d.index = index;
    return d;
  }
  // "cpu", "cuda" (= cuda:0) or "cuda:N"; throws Error(device) otherwise.
  static Device parse(std::string_view text);
  std::string name() const;  // "cpu", "cuda:0"
  // The same device (kind and index; the description is not compared).
  bool operator==(const Device& other) const { return kind == other.kind && index == other.index; }
};

// The devices this build and machine can use; the CPU is always first.
std::vector<Device> available_devices();

// The output head's format at run time. The head (n_vocab x n_embd; F16 in BitNet models, half the
// bytes a 2B-4T decode step reads) can be quantized once at load for faster decoding:
//  - stored: as in the model file, with the reference implementation's numerics (the default);
//  - q8_0: 8.5 bits per weight (0.53x the bytes of F16), Q8_0 activations;
//  - q6_k: 6.56 bits per weight (0.41x), Q8_K activations.
// q8_0 and q6_k change the logits (docs/performance.md gives measured KL divergences); loading
// takes longer (q6_k: seconds for a 128k vocabulary). Resident memory does not grow: the file's
// head pages are released after quantizing.
enum class HeadType { stored, q8_0, q6_k };

std::string_view to_string(HeadType type);  // "f16" for stored (the CLI's name), "q8_0", "q6_k"
// "f16" or "stored", "q8_0", "q6_k" (any case); throws Error(config) otherwise.
HeadType parse_head_type(std::string_view text);

struct LoadConfig {
  // true: weights are paged in from the mapped file on first use. false: every page is read at
  // load time, so the first generation does not wait on the disk.
  bool use_mmap = true;
  std::function<void(float fraction)> progress;  // called with values rising to 1; may be empty
  Device device;                                 // where the weights go (cpu only for now)
  HeadType head_type = HeadType::stored;         // see HeadType: opt-in faster, inexact head
  // Another tokenizer instead of the GGUF's: a tokenizer.json or a GGUF file (as
  // crossval-per-token --tokenizer). Empty = the model's own.
  std::string tokenizer_path;
  // llama.cpp's n_gpu_layers: the first N layers on a GPU, -1 = all. Unset: BITNET_GPU_LAYERS
  // (ignored with a warning when not a whole number; below -1: 0), else 0. What cannot be
  // offloaded (no CUDA backend, no device, too little device memory) runs on the CPU and is said
  // once on stderr; ModelInfo tells what runs where.
  std::optional<int> n_gpu_layers;
};

// What a model is, as `bitnet inspect` reports it.
struct ModelInfo {
  std::string name;  // general.name (may be empty)
  std::string arch;  // general.architecture: "bitnet-b1.58" or "bitnet"
  std::string path;
  int64_t n_params = 0;        // elements of all tensors
  int64_t file_bytes = 0;      // size of the GGUF file
  int64_t tensor_bytes = 0;    // bytes of all tensor data
  std::string quantization;    // type of the BitLinear weights: "I2_S", "TQ2_0", "TQ1_0", ...
  double bits_per_weight = 0;  // 8 * tensor_bytes / n_params (all tensors, like llama.cpp's BPW)
  double ternary_bits_per_weight = 0;  // the same over the BitLinear (quantization-typed) tensors
  std::string head_type;   // the output head as computed: "F16" (as stored), "Q8_0", "Q6_K", ...
  int gpu_layers = 0;      // layers that run on a GPU (the first ones); 0 = all on the CPU
  std::string gpu_device;  // where they run, e.g. "cuda:0"; empty when none
  std::string offload;     // "CPU only" or "12/30 layers on cuda:0"
};

// The hyper-parameters the model was built with.
struct ModelParams {
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_ctx_train = 0;
  float rope_freq_base = 0;
  float rms_eps = 0;
  std::string ffn_activation;  // "relu2" or "silu"
  bool tied_output = true;     // the output head reuses the token embedding
};

class Engine;
class BatchContext;
struct ChatMessage;

class Model {
 public:
  // Maps and checks a GGUF model and its tokenizer. Throws Error (io, model, tokenizer, device)
  // naming the file and the offending key or tensor.
  static Model load(const std::string& path, const LoadConfig& config = {});

  const ModelInfo& info() const;
  const ModelParams& config() const;

  // The model's tokenizer. add_bos follows the model's metadata when not given.
  std::vector<TokenId> tokenize(std::string_view text, bool parse_special = true) const;
  std::vector<TokenId> tokenize(std::string_view text, bool add_bos, bool parse_special) const;
  std::string detokenize(std::span<const TokenId> tokens, bool skip_special = false) const;

  // The GGUF metadata in file order: every key whose value is a scalar or a string, as text
  // (integers in decimal, floats with enough digits to round-trip, booleans "true"/"false").
  // Array values (vocabulary, merges, scores) are left out.
  std::vector<std::pair<std::string, std::string>> metadata() const;

  // `messages` rendered with a chat template, as Chat does: "auto" (the model's
  // tokenizer.chat_template) or "llama3", "bitnet", "llama2", "raw"; add_assistant appends the
  // header of the reply to come. Throws Error(config) for an unknown template.
  std::string apply_chat_template(const std::vector<ChatMessage>& messages,
                                  bool add_assistant = true,
                                  std::string_view template_name = "auto") const;

  struct Impl;
  // The library's own front-ends (the server) reach the engine's internals through this; Impl is
  // not part of the API.
  const Impl& internals() const { return *impl_; }

 private:
  explicit Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class Engine;
  friend class BatchContext;
};

struct EngineConfig {
  int32_t n_ctx = 4096;  // KV cache length in tokens; 0 = the model's training context
  int n_threads = 0;     // 0 = every hardware thread
  Device device;
  bool kv_f16 = true;  // F16 KV cache like the references; false = F32
  // llama.cpp's --cache-type-k/-v: "f16" or "q8_0" (half the bytes; its own numerics). With
  // kv_f16 = false both must stay "f16" (the cache is then f32).
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  // true: mirror the reference implementation's float details (logits match it); false: the same
  // math without its batch-size-dependent roundings.
  bool reference_numerics = true;
};

struct EngineStats {
  int32_t n_ctx = 0;
  int32_t kv_tokens = 0;  // positions in the KV cache
  double kv_usage = 0;    // kv_tokens / n_ctx
  int64_t kv_bytes = 0;   // memory of the KV cache
  int n_threads = 0;
  Device device;
  std::string backend;  // e.g. "cpu (1 thread, F16 KV cache)"
};

struct GenerationResult {
  std::string text;             // the text streamed (stop sequence removed)
  std::vector<TokenId> tokens;  // the generated tokens (an ending EOS is not included)
  FinishReason finish_reason = FinishReason::length;
  PerformanceMetrics metrics;
  uint32_t seed = 0;  // the seed actually used
};

// Receives each piece of text as soon as it is complete UTF-8; return false to cancel.
using TextCallback = std::function<bool(std::string_view piece)>;

// Iterator-style generation: `for (const std::string& piece : engine.stream(prompt, cfg))`.
// Stopping the loop early and destroying the stream cancels the generation. The Engine must
// outlive the stream and runs nothing else meanwhile.
class TokenStream {
 public:
  class iterator {
   public:
    using value_type = std::string;
    using difference_type = std::ptrdiff_t;
    const std::string& operator*() const { return stream_->piece_; }
    const std::string* operator->() const { return &stream_->piece_; }
    iterator& operator++() {
      if (!stream_->next()) stream_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return stream_ == nullptr; }

   private:
    friend class TokenStream;
    explicit iterator(TokenStream* stream) : stream_(stream) {}
    TokenStream* stream_;
  };

  TokenStream(TokenStream&&) noexcept;
  TokenStream& operator=(TokenStream&&) noexcept;
  ~TokenStream();

  iterator begin();
  std::default_sentinel_t end() const { return {}; }
  // The next piece into piece(); false when the generation is over.
  bool next();
  const std::string& piece() const { return piece_; }
  void cancel();
  bool finished() const;
  // Valid once finished (FinishReason::cancelled after cancel() or an early destruction).
  GenerationResult result() const;

  struct State;

 private:
  friend class Engine;
  explicit TokenStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::string piece_;
  bool started_ = false;
};

class Engine {
 public:
  // Throws Error(config) for a bad config, Error(device) for a device that is not available.
  explicit Engine(const Model& model, const EngineConfig& config = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Generates a continuation of `prompt`, tokenized as llama-cli does (BOS per the model's
  // metadata, special tokens like <|eot_id|> parsed). The KV cache keeps its longest prefix in
  // common with the prompt, so repeated prompts and growing conversations are not re-processed.
  GenerationResult generate(std::string_view prompt, const GenerationConfig& config = {});
  GenerationResult generate_stream(std::string_view prompt, const GenerationConfig& config,
                                   const TextCallback& on_text);
  GenerationResult generate_tokens(std::span<const TokenId> prompt, const GenerationConfig& config,
                                   const TextCallback& on_text = {});
  TokenStream stream(std::string_view prompt, const GenerationConfig& config = {});

  // Appends `tokens` after the n_past() positions of the KV cache in one batch and returns the
  // logits of every new position (all_logits) or of the last one, row-major [rows][n_vocab],
  // valid until the next call on this engine. A sampled token that no step evaluated yet (the
  // last one of a generation) is dropped from the cache's sequence. Throws Error(config) for an
  // empty list, an id outside the vocabulary or a running generation, Error(capacity) when the
  // tokens do not fit (nothing changes then).
  std::span<const float> eval(std::span<const TokenId> tokens, bool all_logits = true);
  int32_t n_past() const;  // positions in the KV cache

  void clear_cache();
  EngineStats stats() const;
  const PerformanceMetrics& last_metrics() const;  // of the last finished generation
  const Model& model() const;

  struct Impl;

 private:
  friend class Chat;
  std::unique_ptr<Impl> impl_;
};

// ---- Several sequences in one forward pass (what a server's continuous batching runs)
//
//   bitnet::BatchContext ctx(model, {.n_ctx = 4096, .n_seq_max = 4});
//   std::vector<bitnet::BatchToken> batch = {{token_a, /*seq_id=*/0, /*pos=*/ctx.n_past(0), true},
//                                            {token_b, /*seq_id=*/1, /*pos=*/ctx.n_past(1), true}};
//   ctx.decode(batch);               // each weight matrix is read once for both sequences
//   auto logits_a = ctx.logits(0);   // rows of the tokens with `logits` set, in batch order
struct BatchConfig {
  // Total KV cells, split evenly: each sequence holds up to n_ctx / n_seq_max positions (as
  // llama.cpp's per-sequence context with a non-unified KV cache).
  int32_t n_ctx = 4096;
  int32_t n_seq_max = 4;  // sequence ids 0..n_seq_max-1
  int n_threads = 0;      // 0 = every hardware thread
  bool kv_f16 = true;
  std::string cache_type_k = "f16";  // as EngineConfig's
  std::string cache_type_v = "f16";
  // false (the default here): fast numerics, batch-invariant: a sequence's logits are
  // bit-identical whether it is decoded alone or with others, at any row, with any thread count.
  // true: the reference's float details, which depend on the batch's size.
  bool reference_numerics = false;
};

struct BatchToken {
  TokenId token = 0;
  int32_t seq_id = 0;
  int32_t pos = 0;      // must be n_past(seq_id), then +1 per later token of that sequence
  bool logits = false;  // compute this token's logits
};

class BatchContext {
 public:
  // Throws Error(config) for a bad config (n_ctx < n_seq_max, n_seq_max < 1, ...).
  explicit BatchContext(const Model& model, const BatchConfig& config = {});
  ~BatchContext();
  BatchContext(BatchContext&&) noexcept;
  BatchContext& operator=(BatchContext&&) noexcept;

  // Evaluates the batch. Throws Error(config) for an empty batch, an id outside the vocabulary,
  // a bad sequence id or a position that does not continue its sequence, Error(capacity) when a
  // sequence would exceed n_ctx_seq(); nothing changes then.
  void decode(std::span<const BatchToken> batch);
  int32_t n_logits() const;  // rows of the last decode
  // Row i (n_vocab floats) of the last decode; throws Error(config) when out of range.
  std::span<const float> logits(int32_t i) const;

  int32_t n_past(int32_t seq_id) const;
  int32_t n_ctx_seq() const;  // positions each sequence can hold
  int32_t n_seq_max() const;
  void seq_truncate(int32_t seq_id, int32_t n_past);  // keep the first n_past positions
  void seq_clear(int32_t seq_id);
  const Model& model() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// A multi-turn conversation with the model's chat template. Each turn appends only the new
// messages' tokens: earlier turns stay in the engine's KV cache and are not processed again.
class Chat {
 public:
  // template_name: "auto" (the model's tokenizer.chat_template) or "llama3", "bitnet", "llama2",
  // "raw". Throws Error(config) when "auto" finds no known template.
  explicit Chat(Engine& engine, std::string system_prompt = {}, std::string template_name = "auto");

  GenerationResult send(std::string_view user_message, const GenerationConfig& config = {},
                        const TextCallback& on_text = {});
  void reset();  // forget the conversation (the system prompt stays)
  const std::vector<ChatMessage>& messages() const { return messages_; }
  const std::string& template_name() const { return template_name_; }

 private:
  Engine* engine_;
  std::string template_name_;
  std::vector<ChatMessage> messages_;
  std::string new_turn_text(std::string_view rendered) const;

  std::string prompt_text_;      // the last turn's rendered prompt
  std::vector<TokenId> tokens_;  // the conversation's tokens (prompts and replies)
};

}  // namespace bitnet::api

#ifndef BITNET_API_NO_NAMESPACE_ALIASES
namespace bitnet {
using api::available_devices;
using api::BatchConfig;
using api::BatchContext;
using api::BatchToken;
using api::Chat;
using api::ChatMessage;
using api::Device;
using api::Engine;
using api::EngineConfig;
using api::EngineStats;
using api::GenerationResult;
using api::HeadType;
using api::LoadConfig;
using api::Model;
using api::ModelInfo;
using api::ModelParams;
using api::parse_head_type;
using api::TextCallback;
using api::TokenStream;
}  // namespace bitnet
#endif
