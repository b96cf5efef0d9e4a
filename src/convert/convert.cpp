// `bitnet convert`: Hugging Face BitNet checkpoints to GGUF (see convert.hpp and docs/convert.md).
//
// One pass plans every output tensor from the checkpoint (names, shapes, dtypes, which rule makes
// its ternary codes and its scale) and rejects bad input before anything is written; a second pass
// streams the tensors through GgufWriter in bounded chunks, reading the memory-mapped safetensors
// and releasing their pages behind it, so peak memory is a few chunks, not the model.
#include "convert/convert.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string_view>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "convert/convert_internal.hpp"
#include "convert/safetensors.hpp"
#include "gguf/gguf_writer.hpp"
#include "quant/dequantize.hpp"
#include "quant/quantize.hpp"

namespace bitnet::convert {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

enum class Family {
  BitnetB158,    // BitNetForCausalLM -> bitnet-b1.58
  Bitnet1bit,    // BitnetForCausalLM (1bitLLM) -> bitnet
  LlamaTernary,  // LlamaForCausalLM + quant_method bitnet -> llama
  LlamaPlain,    // LlamaForCausalLM, not ternary-trained (--force-quantize) -> llama
};

enum class Role { Norm, Embedding, Head, BitLinear, RopeFreqs };
enum class Permute { None, Q, K };

// How the ternary codes and the per-tensor scale of a BitLinear weight are obtained.
enum class ScaleRule {
  PackedMultiply,  // packed codes, y = (x·t)·weight_scale (autobitlinear)
  PackedDivide,    // packed codes, y = (x·t) / weight_scale (bitlinear: the scale is inverted)
  AbsmeanF32,      // master weights: s = 1/mean|W|, t = clip(round(W·s)), scale = 1/s in fp32
  AbsmeanF16,      // the same, scale rounded to fp16 (1bitLLM fp16 masters, as both peers do)
};

struct Job {
  std::string name;  // GGUF name
  Role role = Role::Norm;
  TensorType type = TensorType::F32;
  std::vector<int64_t> ne;  // GGUF order: ne[0] is the row length
  const StTensor* src = nullptr;
  const StTensor* scale_src = nullptr;  // packed: weight_scale
  ScaleRule rule = ScaleRule::AbsmeanF32;
  Permute permute = Permute::None;
  std::vector<float> values;  // RopeFreqs: computed here
  // BitLinear, filled at the first chunk: the scale and, for masters, s = 1/mean|W|.
  float scale = 0.0f;
  float inv_mean = 0.0f;
};

struct HParams {
  int64_t n_embd = 0, n_ff = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  int64_t n_ctx = 0, n_vocab = 0;
  double rms_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tied = true;
  std::string rope_scaling_type;
  double rope_scaling_factor = 1.0;
  json rope_scaling;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Error(ErrorCategory::model, where + ": " + what);
}

int64_t get_int(const json& cfg, const std::string& key, const std::string& file,
                std::optional<int64_t> fallback = std::nullopt) {
  if (!cfg.contains(key) || cfg[key].is_null()) {
    if (fallback) return *fallback;
    fail(file, "missing key '" + key + "'");
  }
  if (!cfg[key].is_number_integer() || cfg[key].get<int64_t>() <= 0) {
    fail(file, "key '" + key + "' must be a positive integer, is " + cfg[key].dump());
  }
  return cfg[key].get<int64_t>();
}

double get_number(const json& cfg, const std::string& key, double fallback) {
  return cfg.contains(key) && cfg[key].is_number() ? cfg[key].get<double>() : fallback;
}

uint32_t file_type_of(TensorType t) {
  switch (t) {
    case TensorType::I2_S:
      return 40;  // bitnet.cpp LLAMA_FTYPE_MOSTLY_I2_S
    case TensorType::TQ1_0:
      return 36;
    case TensorType::TQ2_0:
      return 37;
    default:
      return 1;  // F16
  }
}

// I2_S codes (docs/formats.md: value j of a 128-value block in byte j % 32 at shift 6 - 2(j / 32),
// code t + 1) from ternary values; n is a multiple of 128. Equals quant's i2s_pack on ±1/0 input.
void pack_i2s(const int8_t* t, uint8_t* dst, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n / 128; ++b) {
    const int8_t* v = t + b * 128;
    uint8_t* o = dst + b * 32;
    for (int m = 0; m < 32; ++m) {
      o[m] = static_cast<uint8_t>(((v[m] + 1) << 6) | ((v[32 + m] + 1) << 4) |
                                  ((v[64 + m] + 1) << 2) | (v[96 + m] + 1));
    }
  }
}

// TQ2_0 blocks (docs/formats.md: value 128h + 32l + m in bits 2l of byte 32h + m, code t + 1, then
// d as f16) from ternary values times `scale`: d = fp16(scale), or 0 for an all-zero block — the
// bytes quantize_ternary writes for such input (d = max|x|, q = lround(x / d)).
void pack_tq2_0(const int8_t* t, uint8_t* dst, int64_t n, float scale) {
  const uint16_t d = fp32_to_fp16(scale);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n / 256; ++b) {
    const int8_t* v = t + b * 256;
    uint8_t* o = dst + b * 66;
    bool any = false;
    for (int h = 0; h < 2; ++h) {
      for (int m = 0; m < 32; ++m) {
        const int8_t* x = v + 128 * h + m;
        o[32 * h + m] = static_cast<uint8_t>((x[0] + 1) | ((x[32] + 1) << 2) | ((x[64] + 1) << 4) |
                                             ((x[96] + 1) << 6));
        any = any || x[0] != 0 || x[32] != 0 || x[64] != 0 || x[96] != 0;
      }
    }
    const uint16_t db = any ? d : 0;
    std::memcpy(o + 64, &db, 2);
  }
}

// The four codes of packed byte b: bits 2k..2k+1 hold row k·R + i (transformers' pack_weights).
inline int packed_code(uint8_t b, int k) {
  return (b >> (2 * k)) & 3;
}

class Converter {
 public:
  explicit Converter(const ConvertOptions& o) : o_(o) {
    warn_ = o.warn ? o.warn : [](const std::string&) {};
  }

  ConvertSummary run() {
    check_output_path();
    const std::string cfg_path = (fs::path(o_.hf_dir) / "config.json").string();
    if (!fs::is_directory(o_.hf_dir)) {
      throw Error(ErrorCategory::io, o_.hf_dir +
                                         ": not a directory (expected a Hugging Face "
                                         "checkpoint folder)");
    }
    cfg_ = read_json_file(cfg_path, true);
    if (!cfg_.is_object()) fail(cfg_path, "not a JSON object");
    detect_family(cfg_path);
    read_hparams(cfg_path);
    ckpt_ = std::make_unique<Checkpoint>(Checkpoint::open_dir(o_.hf_dir));
    plan_tensors();
    validate_packed();

    gguf::GgufWriter w;
    w.set_chunk_bytes(int64_t{4} << 20);
    write_metadata(w);
    for (auto& job : jobs_) {
      Job* j = &job;
      w.add_tensor_lazy(j->name, j->type, j->ne,
                        [this, j](uint8_t* dst, int64_t off, int64_t n) { fill(*j, dst, off, n); });
    }
    w.write(o_.output, o_.progress);
    ConvertSummary s;
    s.checkpoint_class = class_desc_;
    s.arch = arch_;
    s.pre_tokenizer = pre_;
    s.n_tensors = static_cast<int64_t>(jobs_.size());
    s.file_bytes = fs::file_size(o_.output);
    return s;
  }

 private:
  void check_output_path() const {
    if (o_.output.empty()) throw Error(ErrorCategory::config, "no output path given (-o)");
    const fs::path parent = fs::absolute(o_.output).parent_path();
    if (!fs::is_directory(parent)) {
      throw Error(ErrorCategory::io,
                  o_.output + ": the output directory " + parent.string() + " does not exist");
    }
  }

  void detect_family(const std::string& cfg_path) {
    std::string cls;
    if (cfg_.contains("architectures") && cfg_["architectures"].is_array() &&
        !cfg_["architectures"].empty() && cfg_["architectures"][0].is_string()) {
      cls = cfg_["architectures"][0].get<std::string>();
    }
    const std::string model_type = cfg_.value("model_type", "");
    const json q = cfg_.contains("quantization_config") && cfg_["quantization_config"].is_object()
                       ? cfg_["quantization_config"]
                       : json::object();
    const std::string quant_method = q.value("quant_method", "");
    linear_class_ = q.contains("linear_class") && q["linear_class"].is_string()
                        ? q["linear_class"].get<std::string>()
                        : "bitlinear";
    if (cls == "BitNetForCausalLM") {
      family_ = Family::BitnetB158;
      arch_ = "bitnet-b1.58";
    } else if (cls == "BitnetForCausalLM") {
      family_ = Family::Bitnet1bit;
      arch_ = "bitnet";
    } else if (cls == "LlamaForCausalLM" && quant_method == "bitnet") {
      family_ = Family::LlamaTernary;
      arch_ = "llama";
    } else if (cls == "LlamaForCausalLM") {
      family_ = Family::LlamaPlain;
      arch_ = "llama";
      if (is_ternary(o_.type) && !o_.force_quantize) {
        fail(cfg_path,
             "LlamaForCausalLM without quantization_config.quant_method 'bitnet' was "
             "not trained for ternary weights; converting it to " +
                 std::string(to_string(o_.type)) +
                 " destroys it. Pass --force-quantize to do it anyway");
      }
      if (is_ternary(o_.type)) {
        warn_(
            "the model was not trained for ternary weights: --force-quantize quantizes it "
            "with absmean, expect garbage output");
      }
    } else {
      fail(cfg_path, "unsupported architecture '" + (cls.empty() ? "(none)" : cls) +
                         "' (model_type '" + model_type +
                         "'). Supported: BitNetForCausalLM (microsoft/bitnet-b1.58-2B-4T, "
                         "packed or -bf16), BitnetForCausalLM (1bitLLM bitnet_b1_58-*), "
                         "LlamaForCausalLM with quantization_config.quant_method 'bitnet' "
                         "(Llama3-8B-1.58, Falcon3-*-1.58bit, Falcon-E)");
    }
    class_desc_ = cls;
  }

  void read_hparams(const std::string& file) {
    HParams& h = hp_;
    h.n_embd = get_int(cfg_, "hidden_size", file);
    h.n_ff = get_int(cfg_, "intermediate_size", file);
    h.n_layer = get_int(cfg_, "num_hidden_layers", file);
    h.n_head = get_int(cfg_, "num_attention_heads", file);
    h.n_head_kv = get_int(cfg_, "num_key_value_heads", file, h.n_head);
    h.n_ctx = get_int(cfg_, "max_position_embeddings", file, 4096);
    h.rms_eps = get_number(cfg_, "rms_norm_eps", 1e-5);
    h.rope_theta = get_number(cfg_, "rope_theta", 10000.0);
    if (h.n_embd % h.n_head != 0) fail(file, "num_attention_heads does not divide hidden_size");
    if (h.n_head % h.n_head_kv != 0) {
      fail(file, "num_key_value_heads does not divide num_attention_heads");
    }
    h.head_dim = get_int(cfg_, "head_dim", file, h.n_embd / h.n_head);
    if (h.head_dim * h.n_head != h.n_embd) {
      fail(file, "head_dim " + std::to_string(h.head_dim) +
                     " x num_attention_heads != "
                     "hidden_size (not supported)");
    }
    h.tied = cfg_.value("tie_word_embeddings",
                        family_ != Family::LlamaPlain && family_ != Family::LlamaTernary);
    if (cfg_.contains("rope_scaling") && cfg_["rope_scaling"].is_object()) {
      h.rope_scaling = cfg_["rope_scaling"];
      h.rope_scaling_type = h.rope_scaling.value("rope_type", h.rope_scaling.value("type", ""));
      h.rope_scaling_factor = get_number(h.rope_scaling, "factor", 1.0);
      if (h.rope_scaling_type != "linear" && h.rope_scaling_type != "llama3") {
        fail(file,
             "rope_scaling type '" + h.rope_scaling_type + "' is not supported (linear, llama3)");
      }
    }
  }

  // Maps a checkpoint tensor name to (GGUF name, role); empty name = not a model tensor.
  std::pair<std::string, Role> map_name(const std::string& hf) const {
    if (hf == "model.embed_tokens.weight") return {"token_embd.weight", Role::Embedding};
    if (hf == "lm_head.weight") return {"output.weight", Role::Head};
    if (hf == "model.norm.weight") return {"output_norm.weight", Role::Norm};
    // model.layers.<digits>.<part>.weight
    const std::string_view prefix = "model.layers.", suffix = ".weight";
    const std::string_view name(hf);
    if (!name.starts_with(prefix) || !name.ends_with(suffix)) return {"", Role::Norm};
    const std::string_view rest =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    const size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos || dot + 1 >= rest.size() ||
        !std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(dot),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return {"", Role::Norm};
    }
    const std::string layer(rest.substr(0, dot));
    const std::string part(rest.substr(dot + 1));
    const std::string p = "blk." + layer + ".";
    static const std::map<std::string, std::pair<std::string, Role>> kMap = {
        {"input_layernorm", {"attn_norm", Role::Norm}},
        {"post_attention_layernorm", {"ffn_norm", Role::Norm}},
        {"self_attn.q_proj", {"attn_q", Role::BitLinear}},
        {"self_attn.k_proj", {"attn_k", Role::BitLinear}},
        {"self_attn.v_proj", {"attn_v", Role::BitLinear}},
        {"self_attn.o_proj", {"attn_output", Role::BitLinear}},
        {"mlp.gate_proj", {"ffn_gate", Role::BitLinear}},
        {"mlp.up_proj", {"ffn_up", Role::BitLinear}},
        {"mlp.down_proj", {"ffn_down", Role::BitLinear}},
        {"self_attn.attn_sub_norm", {"attn_sub_norm", Role::Norm}},
        {"mlp.ffn_sub_norm", {"ffn_sub_norm", Role::Norm}},
        {"self_attn.inner_attn_ln", {"attn_sub_norm", Role::Norm}},
        {"mlp.ffn_layernorm", {"ffn_sub_norm", Role::Norm}},
    };
    const auto it = kMap.find(part);
    if (it == kMap.end()) return {"", Role::Norm};
    return {p + it->second.first + ".weight", it->second.second};
  }

  // The checkpoint name of a GGUF tensor (for messages): the inverse of map_name.
  std::string hf_name_of(const std::string& gguf) const {
    if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
    if (gguf == "output.weight") return "lm_head.weight";
    if (gguf == "output_norm.weight") return "model.norm.weight";
    const size_t dot = gguf.find('.', 4);
    const std::string layer = gguf.substr(4, dot - 4);
    const std::string part = gguf.substr(dot + 1, gguf.size() - dot - 8);
    static const std::map<std::string, std::string> kInverse = {
        {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"},
        {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},
        {"attn_v", "self_attn.v_proj"},   {"attn_output", "self_attn.o_proj"},
        {"ffn_gate", "mlp.gate_proj"},    {"ffn_up", "mlp.up_proj"},
        {"ffn_down", "mlp.down_proj"}};
    std::string hf;
    if (part == "attn_sub_norm") {
      hf = family_ == Family::Bitnet1bit ? "self_attn.inner_attn_ln" : "self_attn.attn_sub_norm";
    } else if (part == "ffn_sub_norm") {
      hf = family_ == Family::Bitnet1bit ? "mlp.ffn_layernorm" : "mlp.ffn_sub_norm";
    } else {
      const auto it = kInverse.find(part);
      hf = it == kInverse.end() ? part : it->second;
    }
    return "model.layers." + layer + "." + hf + ".weight";
  }

  bool has_sub_norms() const {
    return family_ == Family::BitnetB158 || family_ == Family::Bitnet1bit;
  }

  void plan_tensors() {
    const HParams& h = hp_;
    const std::string& where = ckpt_->description();
    const StTensor& embd = ckpt_->require("model.embed_tokens.weight");
    if (embd.shape.size() != 2 || embd.shape[1] != h.n_embd) {
      fail(where, "tensor 'model.embed_tokens.weight' has shape " + embd.shape_string() +
                      ", expected [vocab_size, " + std::to_string(h.n_embd) + "]");
    }
    hp_.n_vocab = embd.shape[0];
    const int64_t cfg_vocab = get_int(cfg_, "vocab_size", "config.json", hp_.n_vocab);
    if (cfg_vocab != hp_.n_vocab) {
      fail(where, "tensor 'model.embed_tokens.weight' has " + std::to_string(hp_.n_vocab) +
                      " rows but config.json says vocab_size " + std::to_string(cfg_vocab));
    }
    const bool has_head = ckpt_->find("lm_head.weight") != nullptr;
    if (family_ == Family::BitnetB158 && has_head) {
      warn_("lm_head.weight ignored: bitnet-b1.58 always uses token_embd as the head");
    }
    const bool untied = has_head && family_ != Family::BitnetB158;
    if (!h.tied && !has_head)
      fail(where, "tie_word_embeddings is false but lm_head.weight is missing");

    const TensorType head_type = o_.head_type.value_or(TensorType::F16);
    std::map<std::string, const StTensor*> seen;
    const int64_t n_kv = h.n_head_kv * h.head_dim;
    for (const std::string& hf : ckpt_->names()) {
      if (hf.ends_with(".weight_scale") || hf.ends_with("rotary_emb.inv_freq")) continue;
      auto [name, role] = map_name(hf);
      if (name.empty() || (!has_sub_norms() && name.find("sub_norm") != std::string::npos)) {
        fail(where, "tensor '" + hf + "' is not part of a " + class_desc_ +
                        " checkpoint (cannot map it to GGUF)");
      }
      if (role == Role::Head && !untied) continue;
      const StTensor& t = ckpt_->require(hf);
      seen[name] = &t;
      Job j;
      j.name = name;
      j.role = role;
      j.src = &t;
      // Expected shape (HF order [out, in]).
      std::vector<int64_t> want;
      const auto layer_part = name.substr(name.find('.', 4) + 1);
      if (role == Role::Embedding || role == Role::Head) {
        want = {h.n_vocab, h.n_embd};
        // The head's type applies to the tensor that is the head.
        const bool is_head = role == Role::Head || !untied;
        j.type = is_head ? head_type : TensorType::F16;
      } else if (role == Role::Norm) {
        want = {name.starts_with("blk.") && layer_part == "ffn_sub_norm.weight" ? h.n_ff
                                                                                : h.n_embd};
        j.type = TensorType::F32;
      } else {
        if (layer_part == "attn_q.weight") {
          want = {h.n_embd, h.n_embd};
        } else if (layer_part == "attn_k.weight" || layer_part == "attn_v.weight") {
          want = {n_kv, h.n_embd};
        } else if (layer_part == "attn_output.weight") {
          want = {h.n_embd, h.n_embd};
        } else if (layer_part == "ffn_down.weight") {
          want = {h.n_embd, h.n_ff};
        } else {
          want = {h.n_ff, h.n_embd};
        }
        j.type = o_.type;
        if (arch_ == "llama") {
          if (layer_part == "attn_q.weight") j.permute = Permute::Q;
          if (layer_part == "attn_k.weight") j.permute = Permute::K;
        }
        plan_bitlinear(j, hf, want, where);
      }
      if (role != Role::BitLinear) {
        if (t.dtype != StDtype::BF16 && t.dtype != StDtype::F16 && t.dtype != StDtype::F32) {
          fail(where, "tensor '" + hf + "' has dtype " + std::string(to_string(t.dtype)) +
                          ", expected BF16, F16 or F32");
        }
        check_shape(t, want, where);
      }
      j.ne = {want.size() == 2 ? want[1] : want[0]};
      if (want.size() == 2) j.ne.push_back(want[0]);
      if (const auto rb = row_nbytes(j.type, j.ne[0]); !rb) {
        fail(where, "tensor '" + hf + "' has rows of " + std::to_string(j.ne[0]) +
                        " values, which " + std::string(to_string(j.type)) +
                        " cannot hold (rows must be a multiple of " +
                        std::to_string(traits(j.type).block_size) + "); try another --type");
      }
      jobs_.push_back(std::move(j));
    }
    // Everything the architecture needs must be there.
    std::vector<std::string> need = {"token_embd.weight", "output_norm.weight"};
    if (untied) need.push_back("output.weight");
    for (int64_t il = 0; il < h.n_layer; ++il) {
      const std::string p = "blk." + std::to_string(il) + ".";
      for (const char* n : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                            "ffn_gate", "ffn_up", "ffn_down"}) {
        need.push_back(p + n + ".weight");
      }
      if (has_sub_norms()) {
        need.push_back(p + "attn_sub_norm.weight");
        need.push_back(p + "ffn_sub_norm.weight");
      }
    }
    for (const auto& n : need) {
      if (!seen.contains(n)) {
        fail(where, "tensor '" + hf_name_of(n) + "' (GGUF '" + n + "') is missing (" + class_desc_ +
                        " with " + std::to_string(h.n_layer) + " layers)");
      }
    }
    for (const auto& [n, t] : seen) {
      if (n.starts_with("blk.")) {
        const int64_t il = std::stoll(n.substr(4));
        if (il >= h.n_layer) {
          fail(where, "tensor '" + t->name + "' belongs to layer " + std::to_string(il) +
                          " but num_hidden_layers is " + std::to_string(h.n_layer));
        }
      }
    }
    if (arch_ == "llama" && h.rope_scaling_type == "llama3") add_rope_freqs();
  }

  void check_shape(const StTensor& t, const std::vector<int64_t>& want, const std::string& where) {
    if (t.shape != want) {
      std::string w = "[";
      for (size_t i = 0; i < want.size(); ++i) w += (i ? ", " : "") + std::to_string(want[i]);
      fail(where,
           "tensor '" + t.name + "' has shape " + t.shape_string() + ", expected " + w + "]");
    }
  }

  void plan_bitlinear(Job& j, const std::string& hf, const std::vector<int64_t>& want,
                      const std::string& where) {
    const StTensor& t = *j.src;
    if (t.dtype == StDtype::U8 || t.dtype == StDtype::I8) {
      if (family_ != Family::LlamaTernary && family_ != Family::BitnetB158) {
        fail(where, "tensor '" + hf + "' is packed (" + std::string(to_string(t.dtype)) + ") but " +
                        class_desc_ + " checkpoints hold float masters");
      }
      if (want[0] % 4 != 0) fail(where, "tensor '" + hf + "': output size not a multiple of 4");
      check_shape(t, {want[0] / 4, want[1]}, where);
      const std::string scale_name = hf.substr(0, hf.size() - 7) + ".weight_scale";
      const StTensor* s = ckpt_->find(scale_name);
      if (s == nullptr) {
        fail(where, "tensor '" + scale_name + "' is missing (packed '" + hf + "' needs it)");
      }
      if (s->n_elements != 1 || s->dtype == StDtype::U8 || s->dtype == StDtype::I8) {
        fail(where, "tensor '" + scale_name + "' must be one float value, is " +
                        std::string(to_string(s->dtype)) + " " + s->shape_string());
      }
      j.scale_src = s;
      // autobitlinear (microsoft 2B-4T, transformers' AutoBitLinear) multiplies by weight_scale;
      // bitlinear (the default: HF1BitLLM, Falcon) divides by it.
      j.rule =
          linear_class_ == "autobitlinear" ? ScaleRule::PackedMultiply : ScaleRule::PackedDivide;
      return;
    }
    if (t.dtype != StDtype::BF16 && t.dtype != StDtype::F16 && t.dtype != StDtype::F32) {
      fail(where, "tensor '" + hf + "' has dtype " + std::string(to_string(t.dtype)) +
                      ", expected packed U8 or a float master");
    }
    check_shape(t, want, where);
    j.rule = family_ == Family::Bitnet1bit && t.dtype == StDtype::F16 ? ScaleRule::AbsmeanF16
                                                                      : ScaleRule::AbsmeanF32;
  }

  // Codes must be 0, 1 or 2 (-1, 0, +1); 3 is not a ternary value.
  void validate_packed() {
    for (const Job& job : jobs_) {
      if (job.scale_src == nullptr) continue;
      const StTensor& t = *job.src;
      const auto* p = reinterpret_cast<const uint8_t*>(t.data);
      for (uint64_t i = 0; i < t.nbytes; ++i) {
        const uint8_t b = p[i];
        if ((b & (b >> 1) & 0x55) != 0) {
          int k = 0;
          while (packed_code(b, k) != 3) ++k;
          fail(*t.file, "offset " + std::to_string(t.file_offset + i) + ": tensor '" + t.name +
                            "' byte " + std::to_string(i) + " (0x" + hex(b) +
                            ") holds code 3 at bits " + std::to_string(2 * k) + ".." +
                            std::to_string(2 * k + 1) +
                            "; packed ternary codes are 0, 1, 2 (-1, 0, +1)");
        }
      }
      t.release(0, t.n_elements);
    }
  }

  static std::string hex(uint8_t b) {
    static const char* d = "0123456789abcdef";
    return {d[b >> 4], d[b & 15]};
  }

  // LLaMA-3 rope scaling as llama.cpp's converter computes rope_freqs.weight.
  void add_rope_freqs() {
    const HParams& h = hp_;
    const double factor = get_number(h.rope_scaling, "factor", 8.0);
    const double low = get_number(h.rope_scaling, "low_freq_factor", 1.0);
    const double high = get_number(h.rope_scaling, "high_freq_factor", 4.0);
    const double old_ctx = get_number(h.rope_scaling, "original_max_position_embeddings", 8192);
    const double low_wavelen = old_ctx / low;
    const double high_wavelen = old_ctx / high;
    Job j;
    j.name = "rope_freqs.weight";
    j.role = Role::RopeFreqs;
    j.type = TensorType::F32;
    j.ne = {h.head_dim / 2};
    for (int64_t i = 0; i < h.head_dim; i += 2) {
      const float freq = 1.0f / std::pow(static_cast<float>(h.rope_theta),
                                         static_cast<float>(i) / static_cast<float>(h.head_dim));
      const double wavelen = 2 * M_PI / freq;
      double f = 0;
      if (wavelen < high_wavelen) {
        f = 1;
      } else if (wavelen > low_wavelen) {
        f = factor;
      } else {
        const double smooth = (old_ctx / wavelen - low) / (high - low);
        f = 1 / ((1 - smooth) / factor + smooth);
      }
      j.values.push_back(static_cast<float>(f));
    }
    jobs_.push_back(std::move(j));
  }

  void write_metadata(gguf::GgufWriter& w) {
    const HParams& h = hp_;
    const std::string a = arch_ + ".";
    std::string name = o_.name;
    if (name.empty()) name = fs::absolute(o_.hf_dir).lexically_normal().filename().string();
    if (name.empty()) name = fs::absolute(o_.hf_dir).lexically_normal().parent_path().filename();
    w.add_string("general.architecture", arch_);
    w.add_string("general.name", name);
    w.add_u32(a + "block_count", static_cast<uint32_t>(h.n_layer));
    w.add_u32(a + "context_length", static_cast<uint32_t>(h.n_ctx));
    w.add_u32(a + "embedding_length", static_cast<uint32_t>(h.n_embd));
    w.add_u32(a + "feed_forward_length", static_cast<uint32_t>(h.n_ff));
    w.add_u32(a + "attention.head_count", static_cast<uint32_t>(h.n_head));
    w.add_u32(a + "attention.head_count_kv", static_cast<uint32_t>(h.n_head_kv));
    w.add_f32(a + "rope.freq_base", static_cast<float>(h.rope_theta));
    w.add_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(h.rms_eps));
    w.add_u32("general.file_type", file_type_of(o_.type));
    w.add_u32(a + "vocab_size", static_cast<uint32_t>(h.n_vocab));
    // bitnet.cpp's and llama.cpp's BitnetModel write no rope.dimension_count (it defaults to the
    // head size); the others do.
    if (family_ != Family::Bitnet1bit) {
      w.add_u32(a + "rope.dimension_count", static_cast<uint32_t>(h.head_dim));
    }
    if (h.rope_scaling_type == "linear") {
      w.add_string(a + "rope.scaling.type", "linear");
      w.add_f32(a + "rope.scaling.factor", static_cast<float>(h.rope_scaling_factor));
    } else if (h.rope_scaling_type.empty() && family_ == Family::Bitnet1bit) {
      // bitnet.cpp's and llama.cpp's BitnetModel always write linear scaling 1.0.
      w.add_string(a + "rope.scaling.type", "linear");
      w.add_f32(a + "rope.scaling.factor", 1.0f);
    }
    const TokenizerResult tok = write_hf_tokenizer(w, o_.hf_dir, h.n_vocab, warn_);
    pre_ = tok.pre;
    w.add_u32("general.quantization_version", 2);
  }

  // ---- streaming

  // s = 1/mean|W| over the whole master tensor, summed in double in fixed blocks (the same
  // result for any thread count), as transformers' WeightQuant: 1 / mean.clamp(min=1e-5).
  float inv_absmean(const StTensor& t) const {
    constexpr int64_t kBlock = int64_t{1} << 16;
    const int64_t n = t.n_elements;
    const int64_t n_blocks = (n + kBlock - 1) / kBlock;
    std::vector<double> partial(static_cast<size_t>(n_blocks));
#pragma omp parallel
    {
      std::vector<float> buf(static_cast<size_t>(kBlock));
#pragma omp for schedule(static)
      for (int64_t b = 0; b < n_blocks; ++b) {
        const int64_t m = std::min(n, (b + 1) * kBlock) - b * kBlock;
        t.to_f32(b * kBlock, m, buf.data());
        double s = 0;
        for (int64_t i = 0; i < m; ++i) s += std::fabs(buf[i]);
        partial[static_cast<size_t>(b)] = s;
      }
    }
    double sum = 0;
    for (double p : partial) sum += p;
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    return 1.0f / std::max(mean, 1e-5f);
  }

  void prepare_bitlinear(Job& j) const {
    switch (j.rule) {
      case ScaleRule::PackedMultiply:
        j.scale = j.scale_src->value_f32(0);
        break;
      case ScaleRule::PackedDivide:
        j.scale = 1.0f / j.scale_src->value_f32(0);
        break;
      case ScaleRule::AbsmeanF32:
        j.inv_mean = inv_absmean(*j.src);
        j.scale = 1.0f / j.inv_mean;
        break;
      case ScaleRule::AbsmeanF16:
        j.inv_mean = inv_absmean(*j.src);
        j.scale = round_to_fp16(1.0f / j.inv_mean);
        break;
    }
    if (!std::isfinite(j.scale) || j.scale <= 0) {
      fail(*j.src->file, "tensor '" + j.src->name + "': scale " + std::to_string(j.scale) +
                             " is not a positive finite number");
    }
  }

  // Source row (HF output index) of GGUF row r: llama.cpp's q/k permutation for NORM RoPE.
  int64_t source_row(const Job& j, int64_t r) const {
    if (j.permute == Permute::None) return r;
    const int64_t heads = j.permute == Permute::Q ? hp_.n_head : hp_.n_head_kv;
    const int64_t hd = j.ne[1] / heads;
    const int64_t h = r / hd;
    const int64_t rem = r % hd;
    return h * hd + (rem % 2) * (hd / 2) + rem / 2;
  }

  // Ternary values of GGUF rows [row_begin, row_begin + n_rows), k per row.
  void trits(const Job& j, int64_t row_begin, int64_t n_rows, int8_t* out) const {
    const StTensor& t = *j.src;
    const int64_t k = j.ne[0];
    const int64_t n_out = j.ne[1];
#pragma omp parallel
    {
      std::vector<float> row(static_cast<size_t>(k));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < n_rows; ++r) {
        const int64_t src = source_row(j, row_begin + r);
        int8_t* o = out + r * k;
        if (j.scale_src != nullptr) {
          const int64_t R = n_out / 4;
          const auto* p = reinterpret_cast<const uint8_t*>(t.data) + (src % R) * k;
          const int shift = static_cast<int>(src / R);
          for (int64_t c = 0; c < k; ++c) o[c] = static_cast<int8_t>(packed_code(p[c], shift) - 1);
        } else {
          // clip(round_half_even(W·s), -1, 1) without a rounding call: ties at ±0.5 round to 0
          // and everything beyond ±0.5 clips to ±1.
          t.to_f32(src * k, k, row.data());
          for (int64_t c = 0; c < k; ++c) {
            const float v = row[c] * j.inv_mean;
            o[c] = static_cast<int8_t>(static_cast<int>(v > 0.5f) - static_cast<int>(v < -0.5f));
          }
        }
      }
    }
  }

  void fill(Job& j, uint8_t* dst, int64_t offset, int64_t nbytes) const {
    const int64_t k = j.ne[0];
    const int64_t rows_total = j.ne.size() > 1 ? j.ne[1] : 1;
    const int64_t row_bytes = *row_nbytes(j.type, k);
    const int64_t row_begin = offset / row_bytes;
    const int64_t n_rows = std::min(nbytes / row_bytes, rows_total - row_begin);
    const bool last = row_begin + n_rows == rows_total;
    switch (j.role) {
      case Role::RopeFreqs:
        std::memcpy(dst, j.values.data(), j.values.size() * sizeof(float));
        return;
      case Role::Norm: {
        std::vector<float> v(static_cast<size_t>(n_rows * k));
        j.src->to_f32(row_begin * k, n_rows * k, v.data());
        std::memcpy(dst, v.data(), v.size() * sizeof(float));
        return;
      }
      case Role::Embedding:
      case Role::Head:
        fill_dense(j, dst, row_begin, n_rows);
        j.src->release(row_begin * k, n_rows * k);
        return;
      case Role::BitLinear:
        break;
    }
    if (row_begin == 0) prepare_bitlinear(j);
    // Sub-batches of rows keep the float buffer small whatever the chunk size.
    const int64_t batch = std::max<int64_t>(1, (int64_t{1} << 20) / k);
    std::vector<int8_t> t(static_cast<size_t>(std::min(batch, n_rows) * k));
    std::vector<float> v(t.size());
    for (int64_t r0 = 0; r0 < n_rows; r0 += batch) {
      const int64_t nr = std::min(batch, n_rows - r0);
      const int64_t n = nr * k;
      trits(j, row_begin + r0, nr, t.data());
      uint8_t* out = dst + r0 * row_bytes;
      switch (j.type) {
        case TensorType::I2_S:
          pack_i2s(t.data(), out, n);
          break;
        case TensorType::TQ2_0:
          pack_tq2_0(t.data(), out, n, j.scale);
          break;
        case TensorType::TQ1_0:
          for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(t[i]) * j.scale;
            // Blocks never span rows, so rows quantize independently.
#pragma omp parallel for schedule(static)
          for (int64_t r = 0; r < nr; ++r) {
            quantize_ternary(j.type, v.data() + r * k, out + r * row_bytes, k, k);
          }
          break;
        default:  // F16: the dequantized ternary weights
          for (int64_t i = 0; i < n; ++i) {
            const uint16_t h = fp32_to_fp16(static_cast<float>(t[i]) * j.scale);
            std::memcpy(out + 2 * i, &h, 2);
          }
          break;
      }
    }
    if (last && j.type == TensorType::I2_S) {  // trailer: float32 scale, zero padding
      const int64_t n = n_rows * k;
      std::memset(dst + n / 4, 0, static_cast<size_t>(nbytes - n / 4));
      std::memcpy(dst + n / 4, &j.scale, sizeof(float));
    }
    if (last) j.src->release(0, j.src->n_elements);
  }

  void fill_dense(const Job& j, uint8_t* dst, int64_t row_begin, int64_t n_rows) const {
    const int64_t k = j.ne[0];
    const int64_t row_bytes = *row_nbytes(j.type, k);
#pragma omp parallel
    {
      std::vector<float> row(static_cast<size_t>(k));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < n_rows; ++r) {
        j.src->to_f32((row_begin + r) * k, k, row.data());
        uint8_t* out = dst + r * row_bytes;
        if (j.type == TensorType::F16) {
          for (int64_t c = 0; c < k; ++c) {
            const uint16_t h = fp32_to_fp16(row[c]);
            std::memcpy(out + 2 * c, &h, 2);
          }
        } else if (j.type == TensorType::F32) {
          std::memcpy(out, row.data(), static_cast<size_t>(k) * 4);
        } else {
          quantize_row(j.type, row.data(), out, k);
        }
      }
    }
  }

  const ConvertOptions& o_;
  std::function<void(const std::string&)> warn_;
  json cfg_;
  Family family_ = Family::BitnetB158;
  std::string arch_;
  std::string class_desc_;
  std::string linear_class_;
  std::string pre_;
  HParams hp_;
  std::unique_ptr<Checkpoint> ckpt_;
  std::vector<Job> jobs_;
};

}  // namespace

ConvertSummary convert_checkpoint(const ConvertOptions& options) {
  if (options.type != TensorType::I2_S && options.type != TensorType::TQ1_0 &&
      options.type != TensorType::TQ2_0 && options.type != TensorType::F16) {
    throw Error(ErrorCategory::config, "--type must be i2_s, tq1_0, tq2_0 or f16");
  }
  if (options.head_type && *options.head_type != TensorType::F16 &&
      *options.head_type != TensorType::Q8_0 && *options.head_type != TensorType::Q6_K) {
    throw Error(ErrorCategory::config, "--head-type must be f16, q8_0 or q6_k");
  }
  Converter c(options);
  try {
    return c.run();
  } catch (const nlohmann::json::exception& e) {
    // A JSON value of an unexpected type somewhere in the folder's config files.
    throw Error(ErrorCategory::model,
                options.hf_dir + ": unexpected value in a JSON file: " + std::string(e.what()));
  }
}

}  // namespace bitnet::convert
