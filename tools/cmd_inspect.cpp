// bitnet inspect MODEL.gguf [--json] [--timing]: what a GGUF file holds — architecture and
// hyper-parameters, tokenizer summary, metadata, tensor table, parameter count, bits per weight.
// Hidden (documented in docs/formats.md): --dump-tensor NAME|all --dump-dir DIR writes each
// tensor dequantized to DIR/NAME.f32 (little-endian float32), for tests against other readers.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "commands.hpp"
#include "gguf/gguf.hpp"
#include "model/config.hpp"
#include "model/offload.hpp"
#include "quant/dequantize.hpp"

namespace bitnet::tools {

namespace {
using nlohmann::ordered_json;

struct InspectOptions {
  std::string model;
  bool json = false;
  bool timing = false;
  std::vector<std::string> dump_tensors;
  std::string dump_dir;
};

ordered_json scalar_json(const gguf::Value& v) {
  using gguf::ValueType;
  switch (v.type()) {
    case ValueType::BOOL:
      return v.as_bool();
    case ValueType::STRING:
      return std::string(v.as_string());
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      return v.as_f64();
    case ValueType::INT8:
    case ValueType::INT16:
    case ValueType::INT32:
    case ValueType::INT64:
      return v.as_i64();
    case ValueType::ARRAY:
      break;
    default:
      return v.as_u64();
  }
  const auto& a = v.as_array();
  return ordered_json{{"array_of", std::string(gguf::to_string(a.element_type))}, {"size", a.size}};
}

// A long string (a chat template) is shown by its length in the text output.
std::string short_text(const gguf::Value& v) {
  if (v.type() == gguf::ValueType::STRING && v.as_string().size() > 80) {
    return "<" + std::to_string(v.as_string().size()) + " characters>";
  }
  const auto j = scalar_json(v);
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object())
    return "[" + j["array_of"].get<std::string>() + " x " +
           std::to_string(j["size"].get<uint64_t>()) + "]";
  return j.dump();
}

ordered_json tokenizer_json(const gguf::GgufFile& f) {
  const auto* tokens = f.find("tokenizer.ggml.tokens");
  if (f.find("tokenizer.ggml.model") == nullptr && tokens == nullptr) return nullptr;
  ordered_json t;
  t["model"] = std::string(f.get_string("tokenizer.ggml.model").value_or(""));
  t["pre"] = std::string(f.get_string("tokenizer.ggml.pre").value_or(""));
  t["n_vocab"] = tokens != nullptr ? tokens->as_array().size : 0;
  for (const char* id : {"bos", "eos", "eot", "unknown", "padding"}) {
    const auto v = f.get_u64(std::string("tokenizer.ggml.") + id + "_token_id");
    t[std::string(id) + "_token_id"] = v ? ordered_json(*v) : ordered_json(nullptr);
  }
  const auto* merges = f.find("tokenizer.ggml.merges");
  t["n_merges"] = merges != nullptr ? merges->as_array().size : 0;
  t["add_bos_token"] = f.get_bool("tokenizer.ggml.add_bos_token").value_or(false);
  t["chat_template"] = f.find("tokenizer.chat_template") != nullptr;
  return t;
}

ordered_json config_json(const ModelConfig& c) {
  return ordered_json{{"arch", std::string(to_string(c.arch))},
                      {"n_vocab", c.n_vocab},
                      {"n_embd", c.n_embd},
                      {"n_layer", c.n_layer},
                      {"n_head", c.n_head},
                      {"n_head_kv", c.n_head_kv},
                      {"head_dim", c.head_dim},
                      {"n_ff", c.n_ff},
                      {"n_ctx_train", c.n_ctx_train},
                      {"n_rot", c.n_rot},
                      {"rope_freq_base", c.rope_freq_base},
                      {"rope_freq_scale", c.rope_freq_scale},
                      {"rope_type", std::string(to_string(c.rope_type))},
                      {"rms_eps", c.rms_eps},
                      {"ffn_activation", std::string(to_string(c.ffn_activation))},
                      {"weight_type", std::string(to_string(c.weight_type))},
                      {"embd_type", std::string(to_string(c.embd_type))},
                      {"tied_output", c.tied_output}};
}

ordered_json describe(const gguf::GgufFile& f, double open_ms) {
  ordered_json j;
  j["file"] = f.path();
  j["file_size"] = f.file_size();
  j["gguf_version"] = f.version();
  j["alignment"] = f.alignment();
  j["data_offset"] = f.data_offset();
  j["architecture"] = std::string(f.get_string("general.architecture").value_or(""));
  j["name"] = std::string(f.get_string("general.name").value_or(""));
  try {
    j["config"] = config_json(read_model_config(f));
  } catch (const Error& e) {
    j["config"] = nullptr;
    j["config_error"] = e.what();
  }
  j["tokenizer"] = tokenizer_json(f);
  ordered_json meta = ordered_json::object();
  for (const auto& [key, value] : f.metadata()) {
    meta[std::string(key)] = {{"type", std::string(gguf::to_string(value.type()))},
                              {"value", scalar_json(value)}};
  }
  j["metadata"] = meta;
  int64_t n_params = 0, n_ternary = 0, bytes = 0, ternary_bytes = 0;
  ordered_json tensors = ordered_json::array();
  for (const auto& t : f.tensors()) {
    std::vector<int64_t> shape(t.ne.begin(), t.ne.begin() + t.n_dims);
    tensors.push_back({{"name", std::string(t.name)},
                       {"type", std::string(to_string(t.type))},
                       {"shape", shape},
                       {"n_elements", t.n_elements},
                       {"bytes", t.nbytes},
                       {"offset", f.data_offset() + t.offset}});
    n_params += t.n_elements;
    bytes += t.nbytes;
    if (is_ternary(t.type)) {
      n_ternary += t.n_elements;
      ternary_bytes += t.nbytes;
    }
  }
  j["tensors"] = tensors;
  j["n_tensors"] = f.tensors().size();
  j["n_params"] = n_params;
  j["n_params_ternary"] = n_ternary;
  j["tensor_bytes"] = bytes;
  j["bits_per_weight"] =
      n_params > 0 ? 8.0 * static_cast<double>(bytes) / static_cast<double>(n_params) : 0.0;
  j["bits_per_weight_ternary"] =
      n_ternary > 0
          ? ordered_json(8.0 * static_cast<double>(ternary_bytes) / static_cast<double>(n_ternary))
          : nullptr;
  const GpuInventory gpus = gpu_inventory();
  j["gpu"] = {{"backend", gpus.backend_built ? "cuda" : "none"},
              {"n_devices", gpus.n_devices},
              {"device", gpus.device_name},
              {"free_bytes", gpus.free_bytes},
              {"unavailable", gpus.unavailable},
              {"runs_layers", gpus.runs_layers}};
  if (open_ms >= 0) j["open_ms"] = open_ms;
  return j;
}

void print_text(const gguf::GgufFile& f, const ordered_json& j) {
  std::printf("file:          %s (%llu bytes, %.1f MB)\n", f.path().c_str(),
              static_cast<unsigned long long>(f.file_size()),
              static_cast<double>(f.file_size()) / 1e6);
  std::printf("GGUF:          version %u, alignment %u, data at %llu\n", f.version(), f.alignment(),
              static_cast<unsigned long long>(f.data_offset()));
  std::printf("architecture:  %s   name: %s\n", j["architecture"].get<std::string>().c_str(),
              j["name"].get<std::string>().c_str());
  if (j["config"].is_null()) {
    std::printf("config:        not a runnable BitNet model: %s\n",
                j["config_error"].get<std::string>().c_str());
  } else {
    const auto& c = j["config"];
    std::printf(
        "config:        n_vocab %lld, n_embd %lld, n_layer %lld, n_head %lld, n_head_kv %lld "
        "(head_dim %lld), "
        "n_ff %lld\n",
        c["n_vocab"].get<long long>(), c["n_embd"].get<long long>(), c["n_layer"].get<long long>(),
        c["n_head"].get<long long>(), c["n_head_kv"].get<long long>(),
        c["head_dim"].get<long long>(), c["n_ff"].get<long long>());
    std::printf(
        "               ctx %lld, rope %s theta %g (n_rot %lld), rms_eps %g, ffn %s, weights %s, "
        "embd %s%s\n",
        c["n_ctx_train"].get<long long>(), c["rope_type"].get<std::string>().c_str(),
        c["rope_freq_base"].get<double>(), c["n_rot"].get<long long>(), c["rms_eps"].get<double>(),
        c["ffn_activation"].get<std::string>().c_str(), c["weight_type"].get<std::string>().c_str(),
        c["embd_type"].get<std::string>().c_str(),
        c["tied_output"].get<bool>() ? " (tied head)" : "");
  }
  if (const auto& t = j["tokenizer"]; !t.is_null()) {
    const auto id = [&](const char* k) { return t[k].is_null() ? std::string("-") : t[k].dump(); };
    std::printf(
        "tokenizer:     %s / %s, %llu tokens, %llu merges, bos %s eos %s eot %s, chat template: "
        "%s\n",
        t["model"].get<std::string>().c_str(), t["pre"].get<std::string>().c_str(),
        t["n_vocab"].get<unsigned long long>(), t["n_merges"].get<unsigned long long>(),
        id("bos_token_id").c_str(), id("eos_token_id").c_str(), id("eot_token_id").c_str(),
        t["chat_template"].get<bool>() ? "yes" : "no");
  } else {
    std::printf("tokenizer:     none\n");
  }
  std::printf("metadata:      %zu keys\n", f.metadata().size());
  for (const auto& [key, value] : f.metadata()) {
    std::printf("  %-44.*s %-4s %s\n", static_cast<int>(key.size()), key.data(),
                std::string(gguf::to_string(value.type())).c_str(), short_text(value).c_str());
  }
  std::printf("tensors:       %zu\n", f.tensors().size());
  for (const auto& t : f.tensors()) {
    std::printf("  %-32.*s %-6s %-16s %12lld bytes\n", static_cast<int>(t.name.size()),
                t.name.data(), std::string(to_string(t.type)).c_str(), t.shape_string().c_str(),
                static_cast<long long>(t.nbytes));
  }
  std::printf("parameters:    %lld (%.3f B), %lld ternary\n", j["n_params"].get<long long>(),
              static_cast<double>(j["n_params"].get<long long>()) / 1e9,
              j["n_params_ternary"].get<long long>());
  std::printf("bits/weight:   %.3f overall", j["bits_per_weight"].get<double>());
  if (!j["bits_per_weight_ternary"].is_null()) {
    std::printf(", %.3f ternary tensors", j["bits_per_weight_ternary"].get<double>());
  }
  std::printf("\n");
  const auto& gpu = j["gpu"];
  if (gpu["backend"] == "none") {
    std::printf(
        "GPU:           none (this build has no CUDA backend: -ngl layers run on the CPU)\n");
  } else {
    const int n = gpu["n_devices"].get<int>();
    const std::string where =
        n == 0 ? "no device (" + gpu["unavailable"].get<std::string>() + ")"
               : std::to_string(n) + " device(s), " + gpu["device"].get<std::string>() + " with " +
                     std::to_string(gpu["free_bytes"].get<int64_t>() >> 20) + " MiB free";
    std::printf("GPU:           %s backend, %s%s\n", gpu["backend"].get<std::string>().c_str(),
                where.c_str(),
                gpu["runs_layers"].get<bool>() ? "" : "; -ngl layers run on the CPU");
  }
  if (j.contains("open_ms")) std::printf("open+validate: %.3f ms\n", j["open_ms"].get<double>());
}

void dump_tensor(const gguf::TensorInfo& t, const std::filesystem::path& dir) {
  if (!can_dequantize(t.type)) {
    throw Error(ErrorCategory::model, "tensor '" + std::string(t.name) +
                                          "': cannot dequantize type " +
                                          std::string(to_string(t.type)));
  }
  std::vector<float> values(static_cast<size_t>(t.n_elements));
  dequantize_tensor(t.type, t.data, values.data(), t.n_elements, t.ne[0]);
  const auto path = dir / (std::string(t.name) + ".f32");
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out) throw Error(ErrorCategory::io, path.string() + ": write failed");
}

void run_inspect(const InspectOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  const auto file = gguf::GgufFile::open(opt.model);
  const double open_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!opt.dump_tensors.empty()) {
    if (opt.dump_dir.empty()) throw Error(ErrorCategory::config, "--dump-tensor needs --dump-dir");
    std::filesystem::create_directories(opt.dump_dir);
    for (const auto& name : opt.dump_tensors) {
      if (name == "all") {
        for (const auto& t : file.tensors()) {
          if (can_dequantize(t.type)) dump_tensor(t, opt.dump_dir);
        }
      } else {
        dump_tensor(file.tensor(name), opt.dump_dir);
      }
    }
    return;
  }
  const auto j = describe(file, opt.timing ? open_ms : -1.0);
  if (opt.json) {
    std::printf("%s\n", j.dump(2, ' ', false, ordered_json::error_handler_t::replace).c_str());
  } else {
    print_text(file, j);
  }
}
}  // namespace

void register_inspect(CLI::App& app) {
  auto opt = std::make_shared<InspectOptions>();
  auto* cmd =
      app.add_subcommand("inspect", "Show a GGUF model's architecture, metadata and tensors");
  cmd->add_option("model,-m,--model", opt->model, "GGUF file")->required();
  cmd->add_flag("--json", opt->json, "One JSON document on stdout");
  cmd->add_flag("--timing", opt->timing,
                "Also report the time to open (mmap) and validate the file");
  cmd->add_option("--dump-tensor", opt->dump_tensors,
                  "Write tensor NAME (or 'all') dequantized to float32")
      ->group("");
  cmd->add_option("--dump-dir", opt->dump_dir, "Directory for --dump-tensor files (NAME.f32)")
      ->group("");
  cmd->callback([opt] { run_inspect(*opt); });
}

}  // namespace bitnet::tools
