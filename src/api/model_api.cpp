// bitnet::Model (public handle), Device and available_devices().
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

#include "api/api_impl.hpp"
#include "backends/cuda/device_query.hpp"
#include "quant/tensor_type.hpp"
#include "tokenizer/chat_template.hpp"

namespace bitnet::api {

void set_kv_types(ContextOptions& o, bool kv_f16, const std::string& type_k,
                  const std::string& type_v) {
  o.type_k = parse_kv_type(type_k);
  o.type_v = parse_kv_type(type_v);
  if (!kv_f16) {
    if (o.type_k != KvType::F16 || o.type_v != KvType::F16) {
      throw Error(ErrorCategory::config, "kv_f16 = false (an f32 cache) with cache types K " +
                                             type_k + ", V " + type_v + ": choose one");
    }
    o.type_k = o.type_v = KvType::F32;
  }
  if ((o.type_k == KvType::F32) != (o.type_v == KvType::F32)) {
    throw Error(ErrorCategory::config,
                "cache types K " + type_k + ", V " + type_v + ": f32 is for both or neither");
  }
}

std::string kv_cache_name(const ContextOptions& o) {
  if (o.type_k == o.type_v) {
    return o.type_k == KvType::Q8_0 ? "Q8_0" : o.type_k == KvType::F16 ? "F16" : "F32";
  }
  return "K " + std::string(to_string(o.type_k)) + " / V " + std::string(to_string(o.type_v));
}

namespace {

ModelInfo make_info(const bitnet::Model& model) {
  const auto& file = model.file();
  const auto& c = model.config();
  ModelInfo info;
  info.name = c.name;
  info.arch = c.arch_name;
  info.path = file.path();
  info.file_bytes = static_cast<int64_t>(file.file_size());
  int64_t ternary_params = 0, ternary_bytes = 0;
  for (const auto& t : file.tensors()) {
    info.n_params += t.n_elements;
    info.tensor_bytes += t.nbytes;
    if (t.type == c.weight_type) {
      ternary_params += t.n_elements;
      ternary_bytes += t.nbytes;
    }
  }
  if (ternary_params > 0)
    info.ternary_bits_per_weight = 8.0 * static_cast<double>(ternary_bytes) / ternary_params;
  info.quantization = std::string(to_string(c.weight_type));
  const auto& head = model.weights().output_quantized;
  info.head_type = std::string(to_string(head.empty() ? model.weights().output.type : head.type));
  info.gpu_layers = model.offload().gpu_layers;
  info.gpu_device = model.offload().device;
  info.offload = model.offload().describe();
  if (info.n_params > 0)
    info.bits_per_weight = 8.0 * static_cast<double>(info.tensor_bytes) / info.n_params;
  return info;
}

// A scalar or string metadata value as text; nullopt for arrays.
std::optional<std::string> value_text(const gguf::Value& v) {
  using gguf::ValueType;
  switch (v.type()) {
    case ValueType::ARRAY:
      return std::nullopt;
    case ValueType::STRING:
      return std::string(v.as_string());
    case ValueType::BOOL:
      return v.as_bool() ? "true" : "false";
    case ValueType::FLOAT32:
    case ValueType::FLOAT64: {
      char buf[64];
      const auto [end, ec] = std::to_chars(
          buf, buf + sizeof buf,
          v.type() == ValueType::FLOAT32 ? static_cast<float>(v.as_f64()) : v.as_f64());
      return std::string(buf, ec == std::errc() ? end : buf);
    }
    default:
      break;
  }
  return v.type() == ValueType::UINT64 ? std::to_string(v.as_u64()) : std::to_string(v.as_i64());
}

ModelParams make_params(const ModelConfig& c) {
  ModelParams p;
  p.n_vocab = c.n_vocab;
  p.n_embd = c.n_embd;
  p.n_layer = c.n_layer;
  p.n_head = c.n_head;
  p.n_head_kv = c.n_head_kv;
  p.head_dim = c.head_dim;
  p.n_ff = c.n_ff;
  p.n_ctx_train = c.n_ctx_train;
  p.rope_freq_base = c.rope_freq_base;
  p.rms_eps = c.rms_eps;
  p.ffn_activation = std::string(to_string(c.ffn_activation));
  p.tied_output = c.tied_output;
  return p;
}

// Reads every page of the tensor data so that later accesses do not fault (use_mmap = false).
void prefault(const bitnet::Model& model, const std::function<void(float)>& progress) {
  const auto& tensors = model.file().tensors();
  const long page = std::max(4096L, sysconf(_SC_PAGESIZE));
  int64_t total = 0;
  for (const auto& t : tensors) total += t.nbytes;
  int64_t done = 0;
  volatile unsigned char sink = 0;
  // A quantized head's F16 pages were released on purpose (a tied head's embedding rows come back
  // from the page cache on use).
  const bool skip_head = !model.weights().output_quantized.empty() &&
                         model.weights().output_quantized.storage != nullptr;
  const auto* head_data = reinterpret_cast<const void*>(model.weights().output.data);
  for (const auto& t : tensors) {
    if (skip_head && t.data == head_data) continue;
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data);
    for (int64_t off = 0; off < t.nbytes; off += page) sink = sink ^ bytes[off];
    done += t.nbytes;
    if (progress && total > 0)
      progress(0.5f + 0.5f * static_cast<float>(done) / static_cast<float>(total));
  }
}

}  // namespace

Device Device::parse(std::string_view text) {
  if (text == "cpu") return cpu();
  if (text == "cuda" || text == "gpu") return cuda(0);
  if (text.starts_with("cuda:")) {
    const auto digits = text.substr(5);
    int index = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() && index >= 0)
      return cuda(index);
  }
  throw Error(ErrorCategory::device,
              "unknown device '" + std::string(text) + "' (expected cpu, cuda or cuda:N)");
}

std::string Device::name() const {
  return kind == Kind::cpu ? "cpu" : "cuda:" + std::to_string(index);
}

void check_device(const Device& device) {
  if (device == Device::cpu()) return;
  const auto devices = available_devices();
  std::string listed;
  for (const Device& d : devices) listed += (listed.empty() ? "" : ", ") + d.name();
  if (std::find(devices.begin(), devices.end(), device) == devices.end()) {
    throw Error(ErrorCategory::device,
                "device " + device.name() + " is not available (this machine has: " + listed + ")");
  }
  throw Error(ErrorCategory::device,
              "device " + device.name() +
                  " is present, but the CUDA backend cannot run a whole model there yet; "
                  "LoadConfig::n_gpu_layers offloads what it can and says what runs on the CPU");
}

std::vector<Device> available_devices() {
  std::vector<Device> devices{Device::cpu()};
  for (const cuda::DeviceProperties& p : cuda::probe_runtime().devices) {
    Device d = Device::cuda(p.index);
    d.description = p.name;
    d.total_memory = p.total_bytes;
    d.free_memory = p.free_bytes;
    d.compute_major = p.compute_major;
    d.compute_minor = p.compute_minor;
    devices.push_back(d);
  }
  return devices;
}

std::string_view to_string(HeadType type) {
  switch (type) {
    case HeadType::q8_0:
      return "q8_0";
    case HeadType::q6_k:
      return "q6_k";
    case HeadType::stored:
      break;
  }
  return "f16";
}

HeadType parse_head_type(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "f16" || lower == "stored") return HeadType::stored;
  if (lower == "q8_0") return HeadType::q8_0;
  if (lower == "q6_k") return HeadType::q6_k;
  throw Error(ErrorCategory::config,
              "unknown head type '" + std::string(text) + "' (expected f16, q8_0 or q6_k)");
}

Model Model::load(const std::string& path, const LoadConfig& config) {
  check_device(config.device);
  LoadOptions options;
  options.n_gpu_layers = resolve_gpu_layers(config.n_gpu_layers);
  if (config.head_type == HeadType::q8_0) options.head_type = TensorType::Q8_0;
  if (config.head_type == HeadType::q6_k) options.head_type = TensorType::Q6_K;
  if (config.progress) {
    const float scale = config.use_mmap ? 1.0f : 0.5f;
    options.progress = [&config, scale](float f) { config.progress(f * scale); };
  }
  auto core = bitnet::Model::load(path, options);
  auto tok = config.tokenizer_path.empty() ? tokenizer::Tokenizer::from_gguf(core->file())
                                           : tokenizer::Tokenizer::from_path(config.tokenizer_path);
  if (tok.n_vocab() > core->config().n_vocab) {
    // Ids the model has no embedding row for would fail mid-generation; say it now.
    throw Error(ErrorCategory::tokenizer,
                config.tokenizer_path + ": tokenizer has " + std::to_string(tok.n_vocab()) +
                    " tokens but the model " + path + " has a vocabulary of " +
                    std::to_string(core->config().n_vocab));
  }
  ModelInfo info = make_info(*core);
  ModelParams params = make_params(core->config());
  auto impl = std::make_shared<Impl>(
      Impl{std::move(core), std::move(tok), std::move(info), std::move(params)});
  if (!config.use_mmap) prefault(*impl->model, config.progress);
  if (config.progress) config.progress(1.0f);
  return Model(std::move(impl));
}

const ModelInfo& Model::info() const {
  return impl_->info;
}
const ModelParams& Model::config() const {
  return impl_->params;
}

std::vector<TokenId> Model::tokenize(std::string_view text, bool parse_special) const {
  return impl_->tokenizer.encode(text, impl_->tokenizer.add_bos_default(), parse_special);
}

std::vector<TokenId> Model::tokenize(std::string_view text, bool add_bos,
                                     bool parse_special) const {
  return impl_->tokenizer.encode(text, add_bos, parse_special);
}

std::string Model::detokenize(std::span<const TokenId> tokens, bool skip_special) const {
  return impl_->tokenizer.decode(tokens, skip_special);
}

std::vector<std::pair<std::string, std::string>> Model::metadata() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : impl_->model->file().metadata()) {
    if (auto text = value_text(value)) out.emplace_back(std::string(key), std::move(*text));
  }
  return out;
}

std::string Model::apply_chat_template(const std::vector<ChatMessage>& messages, bool add_assistant,
                                       std::string_view template_name) const {
  std::vector<tokenizer::ChatMessage> converted;
  converted.reserve(messages.size());
  for (const auto& m : messages) converted.push_back({m.role, m.content});
  return tokenizer::apply_chat_template(impl_->tokenizer, template_name, converted, add_assistant);
}

}  // namespace bitnet::api
