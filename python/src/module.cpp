// bitnet._core: the nanobind binding of the C++ API (include/bitnet/bitnet.hpp), the session ABI
// (include/bitnet/crossval_session.h) and crossval-per-token. Only conversions live here; the
// Python package (python/bitnet/) adds keyword arguments and the OpenAI-shaped dicts.
//
// Threads: every call that runs a forward pass (or loads a model) releases the GIL. Each Engine
// has a mutex, taken after the GIL is released, so two Python threads sharing one Engine take
// turns instead of racing; threads with their own Engines over one Model run in parallel.
// Ctrl-C: TokenStream.__next__ checks for pending signals after every step and cancels the
// generation before raising KeyboardInterrupt.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bitnet/bitnet.h"
#include "bitnet/bitnet.hpp"
#include "crossval/compare.hpp"
#include "crossval/report.hpp"
#include "crossval/session_api.hpp"
#include "kernels/omp_policy.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

// ---- errors: one Python class per bitnet::ErrorCategory, all under bitnet.BitnetError

constexpr int kCategories = 8;
PyObject* g_base_error = nullptr;
std::array<PyObject*, kCategories> g_errors{};

PyObject* make_error(nb::module_& m, const char* name, const char* doc, PyObject* extra_base) {
  const std::string qualified = std::string("bitnet.") + name;
  PyObject* bases =
      extra_base ? PyTuple_Pack(2, g_base_error, extra_base) : PyTuple_Pack(1, g_base_error);
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  Py_DECREF(bases);
  if (!type) throw nb::python_error();
  m.attr(name) = nb::handle(type);
  return type;
}

void register_errors(nb::module_& m) {
  g_base_error = PyErr_NewExceptionWithDoc("bitnet.BitnetError",
                                           "Base class of every error raised by the bitnet engine.",
                                           PyExc_Exception, nullptr);
  if (!g_base_error) throw nb::python_error();
  m.attr("BitnetError") = nb::handle(g_base_error);
  using C = bitnet::ErrorCategory;
  auto set = [&](C c, const char* name, const char* doc, PyObject* extra) {
    g_errors[static_cast<size_t>(c)] = make_error(m, name, doc, extra);
  };
  set(C::model, "ModelError", "Not a valid or supported model file.", nullptr);
  set(C::tokenizer, "TokenizerError", "A bad vocabulary or text the tokenizer cannot handle.",
      nullptr);
  set(C::config, "ConfigError", "A bad argument or setting (also a ValueError).", PyExc_ValueError);
  set(C::io, "IoError", "A file that is missing or unreadable (also an OSError).", PyExc_OSError);
  set(C::memory, "OutOfMemoryError", "Memory could not be allocated (also a MemoryError).",
      PyExc_MemoryError);
  set(C::capacity, "CapacityError", "The tokens do not fit in the context (raise n_ctx).", nullptr);
  set(C::device, "DeviceError", "A device or CPU feature that is not available.", nullptr);
  set(C::internal, "InternalError", "A bug in bitnet: please report it with the message.", nullptr);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const bitnet::Error& e) {
      PyErr_SetString(g_errors[static_cast<size_t>(e.category())], e.what());
    }
  });
}

[[noreturn]] void raise(bitnet::ErrorCategory category, const std::string& message) {
  throw bitnet::Error(category, message);
}

// ---- arrays

using Logits = nb::ndarray<nb::numpy, float, nb::ndim<2>, nb::c_contig>;
using LogitsRow = nb::ndarray<nb::numpy, float, nb::ndim<1>, nb::c_contig>;

// A numpy array that owns `data` (allocated with new[]): one copy out of the engine, made while
// the engine is locked, then handed over without another.
template <typename Array>
Array adopt(std::unique_ptr<float[]> data, size_t rows, size_t cols, bool two_d) {
  float* raw = data.release();
  nb::capsule owner(raw, [](void* p) noexcept { delete[] static_cast<float*>(p); });
  if (two_d) return Array(raw, {rows, cols}, owner);
  return Array(raw, {cols}, owner);
}

std::unique_ptr<float[]> copy_of(const float* data, size_t n) {
  std::unique_ptr<float[]> out(new float[n]);
  std::memcpy(out.get(), data, n * sizeof(float));
  return out;
}

// ---- model and engine

nb::dict to_dict(const bitnet::ModelInfo& i) {
  nb::dict d;
  d["name"] = i.name;
  d["architecture"] = i.arch;
  d["path"] = i.path;
  d["n_params"] = i.n_params;
  d["file_bytes"] = i.file_bytes;
  d["tensor_bytes"] = i.tensor_bytes;
  d["quantization"] = i.quantization;
  d["bits_per_weight"] = i.bits_per_weight;
  d["ternary_bits_per_weight"] = i.ternary_bits_per_weight;
  d["head_type"] = i.head_type;
  d["gpu_layers"] = i.gpu_layers;
  d["gpu_device"] = i.gpu_device;
  d["offload"] = i.offload;
  return d;
}

nb::dict to_dict(const bitnet::ModelParams& p) {
  nb::dict d;
  d["n_vocab"] = p.n_vocab;
  d["n_embd"] = p.n_embd;
  d["n_layer"] = p.n_layer;
  d["n_head"] = p.n_head;
  d["n_head_kv"] = p.n_head_kv;
  d["head_dim"] = p.head_dim;
  d["n_ff"] = p.n_ff;
  d["n_ctx_train"] = p.n_ctx_train;
  d["rope_freq_base"] = p.rope_freq_base;
  d["rms_eps"] = p.rms_eps;
  d["ffn_activation"] = p.ffn_activation;
  d["tied_output"] = p.tied_output;
  return d;
}

nb::dict to_dict(const bitnet::PerformanceMetrics& m) {
  nb::dict d;
  d["prompt_tokens"] = m.prompt_tokens;
  d["prompt_tokens_evaluated"] = m.prompt_tokens_evaluated;
  d["generated_tokens"] = m.generated_tokens;
  d["decode_steps"] = m.decode_steps;
  d["context_shifts"] = m.context_shifts;
  d["tokenize_ms"] = m.tokenize_ms;
  d["prompt_ms"] = m.prompt_ms;
  d["decode_ms"] = m.decode_ms;
  d["sample_ms"] = m.sample_ms;
  d["time_to_first_token_ms"] = m.time_to_first_token_ms;
  d["total_ms"] = m.total_ms;
  d["prompt_tokens_per_s"] = m.prompt_tokens_per_s;
  d["generation_tokens_per_s"] = m.generation_tokens_per_s;
  d["ms_per_token"] = m.ms_per_token;
  d["peak_memory_bytes"] = m.peak_memory_bytes;
  return d;
}

nb::dict to_dict(const bitnet::GenerationResult& r) {
  nb::dict d;
  d["text"] = nb::bytes(r.text.data(), r.text.size());
  d["tokens"] = r.tokens;
  d["finish_reason"] = std::string(bitnet::to_string(r.finish_reason));
  d["metrics"] = to_dict(r.metrics);
  d["seed"] = r.seed;
  return d;
}

struct EngineBox {
  EngineBox(const bitnet::Model& model, const bitnet::EngineConfig& config)
      : engine(model, config) {}
  bitnet::Engine engine;
  std::mutex mutex;  // one call at a time (taken with the GIL released)
};

// One generation; keeps its EngineBox alive (nb::keep_alive) and locks it for every step.
struct StreamBox {
  EngineBox* box;
  std::unique_ptr<bitnet::TokenStream> stream;

  nb::bytes next() {
    if (!stream) throw nb::stop_iteration();
    bool more = false;
    {
      nb::gil_scoped_release release;
      std::lock_guard lock(box->mutex);
      more = stream->next();
    }
    if (PyErr_CheckSignals() != 0) {  // Ctrl-C (or another signal handler that raised)
      {
        nb::gil_scoped_release release;
        std::lock_guard lock(box->mutex);
        stream->cancel();
      }
      throw nb::python_error();
    }
    if (!more) throw nb::stop_iteration();
    const auto& piece = stream->piece();
    return nb::bytes(piece.data(), piece.size());
  }

  void cancel() {
    if (!stream) return;
    nb::gil_scoped_release release;
    std::lock_guard lock(box->mutex);
    stream->cancel();
  }

  nb::dict result() const {
    if (!stream) raise(bitnet::ErrorCategory::config, "TokenStream: no generation");
    return to_dict(stream->result());
  }
};

std::vector<bitnet::ChatMessage> to_messages(
    const std::vector<std::pair<std::string, std::string>>& m) {
  std::vector<bitnet::ChatMessage> out;
  out.reserve(m.size());
  for (const auto& [role, content] : m) out.push_back({role, content});
  return out;
}

// ---- session ABI

constexpr int32_t kErrLen = 1024;

class SessionBox {
 public:
  SessionBox(const std::string& model_path, int32_t n_ctx, int32_t n_gpu_layers, int32_t n_threads,
             const std::optional<std::string>& library)
      : name_(library ? "lib:" + *library : "bitnet") {
    api_ = library ? bitnet::crossval::SessionApi::load(*library)
                   : bitnet::crossval::SessionApi::builtin();
    std::array<char, kErrLen> err{};
    int rc = 0;
    {
      nb::gil_scoped_release release;
      rc = api_.open_ex(model_path.c_str(), n_ctx, n_gpu_layers, n_threads, &handle_, err.data(),
                        kErrLen);
    }
    using C = bitnet::ErrorCategory;
    if (rc != 0) {
      const C c = rc == -1 ? C::io : rc == -2 ? C::model : rc == -3 ? C::memory : C::config;
      raise(c,
            name_ + ": cannot open " + model_path + " (" + std::to_string(rc) + "): " + err.data());
    }
    check(api_.vocab_size(handle_, &vocab_), "vocab_size", "", C::internal);
    check(api_.context_size(handle_, &n_ctx_), "context_size", "", C::internal);
  }
  ~SessionBox() { close(); }

  void close() {
    if (handle_) api_.close(handle_);
    handle_ = nullptr;
  }

  std::vector<int32_t> tokenize(const nb::bytes& text, bool add_bos) {
    const std::string s(text.c_str(), text.size());
    std::array<char, kErrLen> err{};
    std::vector<int32_t> out(s.size() + 16);
    int32_t n = 0;
    int rc = api_.tokenize_with(live(), s.c_str(), add_bos, out.data(),
                                static_cast<int32_t>(out.size()), &n, err.data(), kErrLen);
    if (rc == -3) {  // too small: n is the count needed
      out.resize(static_cast<size_t>(n));
      rc = api_.tokenize_with(live(), s.c_str(), add_bos, out.data(), n, &n, err.data(), kErrLen);
    }
    check(rc, "tokenize_with", err.data(), bitnet::ErrorCategory::tokenizer);
    out.resize(static_cast<size_t>(n));
    return out;
  }

  void prefill(const std::vector<int32_t>& tokens) {
    std::array<char, kErrLen> err{};
    void* handle = live();
    int rc = 0;
    {
      nb::gil_scoped_release release;
      rc = api_.prefill(handle, tokens.data(), static_cast<int32_t>(tokens.size()), err.data(),
                        kErrLen);
    }
    check(rc, "prefill", err.data(), eval_category(rc, -3));
  }

  LogitsRow eval_last(const std::vector<int32_t>& tokens) {
    std::unique_ptr<float[]> logits(new float[static_cast<size_t>(vocab_)]);
    std::array<char, kErrLen> err{};
    void* handle = live();
    int rc = 0;
    {
      nb::gil_scoped_release release;
      rc = api_.eval_last(handle, tokens.data(), static_cast<int32_t>(tokens.size()), logits.get(),
                          vocab_, err.data(), kErrLen);
    }
    check(rc, "eval_last", err.data(), eval_category(rc, -5));
    return adopt<LogitsRow>(std::move(logits), 1, static_cast<size_t>(vocab_), false);
  }

  Logits eval_all(const std::vector<int32_t>& tokens) {
    const auto n = static_cast<int32_t>(tokens.size());
    std::unique_ptr<float[]> logits(
        new float[std::max<size_t>(1, tokens.size()) * static_cast<size_t>(vocab_)]);
    std::array<char, kErrLen> err{};
    void* handle = live();
    int32_t rows = 0, cols = 0;
    int rc = 0;
    {
      nb::gil_scoped_release release;
      rc = api_.eval_all(handle, tokens.data(), n, logits.get(), n, &rows, &cols, err.data(),
                         kErrLen);
    }
    check(rc, "eval_all", err.data(), eval_category(rc, -5));
    return adopt<Logits>(std::move(logits), static_cast<size_t>(rows), static_cast<size_t>(cols),
                         true);
  }

  void reset() {
    if (!api_.reset) raise(bitnet::ErrorCategory::config, name_ + ": has no crossval_bitnet_reset");
    check(api_.reset(live()), "reset", "", bitnet::ErrorCategory::internal);
  }

  int32_t n_past() {
    if (!api_.n_past)
      raise(bitnet::ErrorCategory::config, name_ + ": has no crossval_bitnet_n_past");
    int32_t n = 0;
    check(api_.n_past(live(), &n), "n_past", "", bitnet::ErrorCategory::internal);
    return n;
  }

  int32_t n_vocab() const { return vocab_; }
  int32_t n_ctx() const { return n_ctx_; }
  const std::string& name() const { return name_; }

 private:
  void* live() const {
    if (!handle_) raise(bitnet::ErrorCategory::config, name_ + ": the session is closed");
    return handle_;
  }
  // -2 is a bad argument everywhere; `capacity_rc` is the call's "does not fit" code.
  static bitnet::ErrorCategory eval_category(int rc, int capacity_rc) {
    using C = bitnet::ErrorCategory;
    if (rc == capacity_rc) return C::capacity;
    if (rc == -2) return C::config;
    return C::internal;
  }
  void check(int rc, const char* fn, const char* err, bitnet::ErrorCategory category) const {
    if (rc == 0) return;
    raise(category, name_ + ": crossval_bitnet_" + fn + " returned " + std::to_string(rc) +
                        (*err ? ": " : "") + err);
  }

  std::string name_;
  bitnet::crossval::SessionApi api_;
  void* handle_ = nullptr;
  int32_t vocab_ = 0;
  int32_t n_ctx_ = 0;
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "bitnet._core: the compiled binding of libbitnet (use the bitnet package instead).";
  register_errors(m);

  m.def(
      "version", [] { return std::string(bitnet_version()); }, "libbitnet's version.");
  m.def(
      "build_info", [] { return std::string(bitnet_build_info()); },
      "One line: version, compiler, CPU features of this machine, CUDA or not.");
  m.def(
      "cpu_features", [] { return std::string(bitnet_cpu_features()); },
      "Space-separated CPU features the kernels use on this machine.");
  m.def(
      "default_gomp_spin_count", [] { return bitnet::kernels::kDefaultGompSpinCount; },
      "The libgomp spin count the CLI uses when no OpenMP policy is set.");

  nb::class_<bitnet::GenerationConfig>(m, "GenerationConfig",
                                       "Sampling and stopping settings (bitnet/generation.hpp).")
      .def(nb::init<>())
      .def_rw("max_new_tokens", &bitnet::GenerationConfig::max_new_tokens)
      .def_rw("temperature", &bitnet::GenerationConfig::temperature)
      .def_rw("top_k", &bitnet::GenerationConfig::top_k)
      .def_rw("top_p", &bitnet::GenerationConfig::top_p)
      .def_rw("min_p", &bitnet::GenerationConfig::min_p)
      .def_rw("repeat_penalty", &bitnet::GenerationConfig::repeat_penalty)
      .def_rw("repeat_last_n", &bitnet::GenerationConfig::repeat_last_n)
      .def_rw("seed", &bitnet::GenerationConfig::seed)
      .def_rw("stop", &bitnet::GenerationConfig::stop)
      .def_rw("skip_special_tokens", &bitnet::GenerationConfig::skip_special_tokens)
      .def_rw("ignore_eos", &bitnet::GenerationConfig::ignore_eos)
      .def("validate", &bitnet::GenerationConfig::validate,
           "Raises ConfigError naming the first bad field.");

  nb::class_<bitnet::Model>(m, "Model", "Loaded weights and tokenizer (shared, immutable).")
      .def_static(
          "load",
          [](const std::string& path, bool use_mmap, const std::string& head_type,
             std::optional<int> n_gpu_layers) {
            bitnet::LoadConfig config;
            config.use_mmap = use_mmap;
            config.head_type = bitnet::parse_head_type(head_type);
            config.n_gpu_layers = n_gpu_layers;
            nb::gil_scoped_release release;
            return bitnet::Model::load(path, config);
          },
          "path"_a, "use_mmap"_a = true, "head_type"_a = "f16", "n_gpu_layers"_a = nb::none(),
          "Maps and checks a GGUF model and its tokenizer. n_gpu_layers None: BITNET_GPU_LAYERS, "
          "else 0; what cannot be offloaded runs on the CPU (said once on stderr).")
      .def_prop_ro(
          "info", [](const bitnet::Model& m) { return to_dict(m.info()); },
          "What the model is (as `bitnet inspect` reports it).")
      .def_prop_ro(
          "params", [](const bitnet::Model& m) { return to_dict(m.config()); },
          "The hyper-parameters.")
      .def_prop_ro(
          "metadata",
          [](const bitnet::Model& m) {
            nb::dict d;
            for (const auto& [k, v] : m.metadata()) d[k.c_str()] = v;
            return d;
          },
          "GGUF metadata: scalar and string values as text (arrays left out).")
      .def(
          "tokenize",
          [](const bitnet::Model& m, const nb::bytes& text, std::optional<bool> add_bos,
             bool special) {
            const std::string_view s(text.c_str(), text.size());
            return add_bos ? m.tokenize(s, *add_bos, special) : m.tokenize(s, special);
          },
          "text"_a, "add_bos"_a.none() = nb::none(), "special"_a = false,
          "UTF-8 bytes to token ids (add_bos None: the model's default).")
      .def(
          "detokenize",
          [](const bitnet::Model& m, const std::vector<int32_t>& ids, bool skip_special) {
            const std::string s = m.detokenize(ids, skip_special);
            return nb::bytes(s.data(), s.size());
          },
          "ids"_a, "skip_special"_a = false, "Token ids to their bytes.")
      .def(
          "apply_chat_template",
          [](const bitnet::Model& m, const std::vector<std::pair<std::string, std::string>>& msgs,
             bool add_assistant, const std::string& name) {
            return m.apply_chat_template(to_messages(msgs), add_assistant, name);
          },
          "messages"_a, "add_assistant"_a = true, "template"_a = "auto",
          "(role, content) pairs rendered with a chat template.");

  nb::class_<EngineBox>(m, "Engine", "A KV cache and its threads over one Model.")
      .def(
          "__init__",
          [](EngineBox* self, const bitnet::Model& model, int32_t n_ctx, int n_threads) {
            bitnet::EngineConfig config;
            config.n_ctx = n_ctx;
            config.n_threads = n_threads;
            new (self) EngineBox(model, config);
          },
          "model"_a, "n_ctx"_a = 4096, "n_threads"_a = 0)
      .def(
          "eval",
          [](EngineBox& b, const std::vector<int32_t>& tokens, bool all_logits) {
            size_t rows = 0, cols = 0;
            std::unique_ptr<float[]> copy;
            {
              nb::gil_scoped_release release;
              std::lock_guard lock(b.mutex);
              const auto logits = b.engine.eval(tokens, all_logits);
              cols = static_cast<size_t>(b.engine.model().config().n_vocab);
              rows = logits.size() / cols;
              copy = copy_of(logits.data(), logits.size());
            }
            return adopt<Logits>(std::move(copy), rows, cols, true);
          },
          "tokens"_a, "all_logits"_a = true,
          "Appends tokens to the cache; returns a copy of the logits [rows, n_vocab].")
      .def_prop_ro("n_past",
                   [](EngineBox& b) {
                     nb::gil_scoped_release release;
                     std::lock_guard lock(b.mutex);
                     return b.engine.n_past();
                   })
      .def_prop_ro("n_ctx", [](EngineBox& b) { return b.engine.stats().n_ctx; })
      .def_prop_ro("n_threads", [](EngineBox& b) { return b.engine.stats().n_threads; })
      .def(
          "reset",
          [](EngineBox& b) {
            nb::gil_scoped_release release;
            std::lock_guard lock(b.mutex);
            b.engine.clear_cache();
          },
          "Empties the KV cache.")
      .def(
          "stream",
          [](EngineBox& b, const nb::bytes& prompt, const bitnet::GenerationConfig& config) {
            const std::string p(prompt.c_str(), prompt.size());
            auto box = std::make_unique<StreamBox>();
            box->box = &b;
            nb::gil_scoped_release release;
            std::lock_guard lock(b.mutex);  // the prompt is evaluated here
            box->stream = std::make_unique<bitnet::TokenStream>(b.engine.stream(p, config));
            return box.release();
          },
          "prompt"_a, "config"_a, nb::keep_alive<0, 1>(), nb::rv_policy::take_ownership,
          "Starts a generation (the prompt tokenized with BOS per the model, special tokens "
          "parsed); iterate for the pieces.");

  nb::class_<StreamBox>(m, "TokenStream", "One running generation; yields UTF-8 byte pieces.")
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", &StreamBox::next)
      .def("cancel", &StreamBox::cancel, "Ends the generation now (finish reason 'cancelled').")
      .def("result", &StreamBox::result,
           "text, tokens, finish_reason, metrics and seed (final once the iteration ended).");

  nb::class_<SessionBox>(m, "Session", "The session ABI over libbitnet or any library exposing it.")
      .def(nb::init<const std::string&, int32_t, int32_t, int32_t,
                    const std::optional<std::string>&>(),
           "path"_a, "n_ctx"_a, "n_gpu_layers"_a = 0, "n_threads"_a = 0,
           "library"_a.none() = nb::none())
      .def("tokenize", &SessionBox::tokenize, "text"_a, "add_bos"_a = true)
      .def("prefill", &SessionBox::prefill, "tokens"_a)
      .def("eval_last", &SessionBox::eval_last, "tokens"_a)
      .def("eval_all", &SessionBox::eval_all, "tokens"_a)
      .def("reset", &SessionBox::reset)
      .def("close", &SessionBox::close)
      .def_prop_ro("n_past", &SessionBox::n_past)
      .def_prop_ro("n_vocab", &SessionBox::n_vocab)
      .def_prop_ro("n_ctx", &SessionBox::n_ctx)
      .def_prop_ro("name", &SessionBox::name);

  m.def(
      "crossval_per_token",
      [](const std::string& model, const std::string& side_b, const std::string& prompt,
         int max_tokens, double cos_tol, const std::string& chat_template,
         std::optional<bool> add_bos, int threads, const std::string& tokenizer) {
        bitnet::crossval::CompareRequest r;
        r.model = model;
        r.side_b = side_b;
        r.prompt = prompt;
        r.max_tokens = max_tokens;
        r.cos_tol = cos_tol;
        r.chat_template = chat_template;
        r.add_bos = add_bos;
        r.threads = threads;
        r.tokenizer = tokenizer;
        nb::gil_scoped_release release;
        const auto c = bitnet::crossval::compare(r);
        return std::make_pair(bitnet::crossval::json_report(*c.a, *c.b, c.settings, c.result),
                              bitnet::crossval::exit_code(c.result));
      },
      "model"_a, "side_b"_a, "prompt"_a, "max_tokens"_a, "cos_tol"_a, "chat_template"_a,
      "add_bos"_a.none(), "threads"_a, "tokenizer"_a,
      "crossval-per-token: (JSON report, exit code as the CLI's).");
}
