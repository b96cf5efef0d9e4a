#include "model/config.hpp"

#include <string>

#include "bitnet/error.hpp"

namespace bitnet {
namespace {

class ConfigReader {
 public:
  ConfigReader(const gguf::GgufFile& file, std::string prefix)
      : file_(file), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCategory::model, file_.path() + ": " + what);
  }

  int64_t required_int(const std::string& key) const {
    const auto v = file_.get_u64(prefix_ + key);
    if (!v) fail("missing metadata key '" + prefix_ + key + "'");
    if (*v == 0 || *v > (uint64_t{1} << 40))
      fail("metadata key '" + prefix_ + key + "' has invalid value " + std::to_string(*v));
    return static_cast<int64_t>(*v);
  }

  int64_t optional_int(const std::string& key, int64_t fallback) const {
    return file_.find(prefix_ + key) != nullptr ? required_int(key) : fallback;
  }

  float optional_float(const std::string& key, float fallback) const {
    const auto v = file_.get_f64(prefix_ + key);
    return v ? static_cast<float>(*v) : fallback;
  }

  std::string key(const std::string& k) const { return prefix_ + k; }

 private:
  const gguf::GgufFile& file_;
  std::string prefix_;
};

}  // namespace

std::string_view to_string(Arch arch) {
  switch (arch) {
    case Arch::BitnetB158:
      return "bitnet-b1.58";
    case Arch::Bitnet:
      return "bitnet";
    case Arch::Llama:
      return "llama";
  }
  return "?";
}
std::string_view to_string(FfnActivation act) {
  return act == FfnActivation::Relu2 ? "relu2" : "silu";
}
std::string_view to_string(RopeType rope) {
  return rope == RopeType::Neox ? "neox" : "normal";
}

ModelConfig read_model_config(const gguf::GgufFile& file) {
  ModelConfig c;
  const auto arch = file.get_string("general.architecture");
  if (!arch)
    throw Error(ErrorCategory::model,
                file.path() + ": missing metadata key 'general.architecture'");
  c.arch_name = std::string(*arch);
  if (c.arch_name == "bitnet-b1.58" || c.arch_name == "bitnet-25") {
    c.arch = Arch::BitnetB158;
  } else if (c.arch_name == "bitnet") {
    c.arch = Arch::Bitnet;
  } else if (c.arch_name == "llama") {
    c.arch = Arch::Llama;  // runnable only with ternary BitLinear weights (checked below)
  } else {
    throw Error(ErrorCategory::model, file.path() + ": unsupported architecture '" + c.arch_name +
                                          "' (supported: bitnet-b1.58, bitnet-25, bitnet, llama "
                                          "with ternary weights)");
  }
  c.name = std::string(file.get_string("general.name").value_or(""));
  const ConfigReader r(file, c.arch_name + ".");

  c.n_embd = r.required_int("embedding_length");
  c.n_layer = r.required_int("block_count");
  c.n_ff = r.required_int("feed_forward_length");
  c.n_head = r.required_int("attention.head_count");
  c.n_head_kv = r.optional_int("attention.head_count_kv", c.n_head);
  c.n_ctx_train = r.optional_int("context_length", 4096);
  c.rms_eps = r.optional_float("attention.layer_norm_rms_epsilon", 1e-5f);
  c.rope_freq_base = r.optional_float("rope.freq_base", 10000.0f);
  const float scaling = r.optional_float("rope.scaling.factor", 1.0f);
  c.rope_freq_scale = scaling > 0 ? 1.0f / scaling : 1.0f;

  if (c.n_embd % c.n_head != 0) {
    r.fail("attention.head_count " + std::to_string(c.n_head) +
           " does not divide embedding_length " + std::to_string(c.n_embd));
  }
  if (c.n_head % c.n_head_kv != 0) {
    r.fail("attention.head_count_kv " + std::to_string(c.n_head_kv) +
           " does not divide head_count " + std::to_string(c.n_head));
  }
  c.head_dim = c.n_embd / c.n_head;
  c.n_rot = r.optional_int("rope.dimension_count", c.head_dim);
  if (c.n_rot > c.head_dim || c.n_rot % 2 != 0) {
    r.fail("rope.dimension_count " + std::to_string(c.n_rot) +
           " must be even and at most the head size " + std::to_string(c.head_dim));
  }

  // The BitNet architectures use NeoX-style RoPE in their references (llama.cpp maps
  // LLM_ARCH_BITNET and bitnet.cpp's BITNET_B158 to LLAMA_ROPE_TYPE_NEOX); llama uses normal RoPE
  // on the q/k rows its converters permuted.
  c.rope_type = c.arch == Arch::Llama ? RopeType::Normal : RopeType::Neox;
  c.has_sub_norms = c.arch != Arch::Llama;
  if (c.arch == Arch::BitnetB158) {
    c.ffn_activation = FfnActivation::Relu2;
  } else if (c.arch == Arch::Llama) {
    c.ffn_activation = FfnActivation::Silu;
  } else {
    const auto act = file.get_string(r.key("hidden_activation"));
    c.ffn_activation = (act && *act == "relu2") ? FfnActivation::Relu2 : FfnActivation::Silu;
  }

  const auto& embd = file.tensor("token_embd.weight");
  if (embd.n_dims != 2 || embd.ne[0] != c.n_embd) {
    r.fail("token_embd.weight has shape " + embd.shape_string() + ", expected [" +
           std::to_string(c.n_embd) + ", n_vocab]");
  }
  c.embd_type = embd.type;
  c.n_vocab = r.optional_int("vocab_size", embd.ne[1]);
  if (c.n_vocab != embd.ne[1]) {
    r.fail("vocab_size " + std::to_string(c.n_vocab) + " disagrees with token_embd.weight " +
           embd.shape_string());
  }
  // bitnet.cpp always uses token_embd as the head for bitnet-b1.58, even if output.weight exists.
  c.tied_output = c.arch == Arch::BitnetB158 || file.find_tensor("output.weight") == nullptr;
  c.weight_type = file.tensor("blk.0.attn_q.weight").type;
  if (!is_ternary(c.weight_type)) {
    r.fail("blk.0.attn_q.weight has type " + std::string(to_string(c.weight_type)) +
           "; BitLinear weights must be I2_S, TQ1_0 or TQ2_0");
  }
  return c;
}

}  // namespace bitnet
