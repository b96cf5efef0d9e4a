// Synthetic model generation: presets, tensor list and deterministic values. Every value is a pure
// function of (seed, tensor name, row), so tensors can be produced chunk by chunk in any order.
#include "model/synth.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "quant/dequantize.hpp"

namespace bitnet::synth {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t name_hash(std::string_view s) {  // FNV-1a
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// The random stream of one row of one tensor.
uint64_t row_state(uint64_t seed, std::string_view name, int64_t row) {
  uint64_t s = seed ^ name_hash(name);
  (void)splitmix64(s);
  return s + static_cast<uint64_t>(row) * 0xD1B54A32D192ED03ull;
}

float uniform01(uint64_t& state) {
  return static_cast<float>(splitmix64(state) >> 40) * 0x1.0p-24f;
}

// Roughly normal (Irwin-Hall of 4 uniforms), mean 0, standard deviation 1.
float near_normal(uint64_t& state) {
  float s = 0;
  for (int i = 0; i < 4; ++i) s += uniform01(state);
  return (s - 2.0f) * 1.7320508f;
}

enum class Kind { BitLinear, Norm, Embedding };

struct TensorPlan {
  std::string name;
  Kind kind;
  std::vector<int64_t> ne;
  TensorType type;
};

uint32_t file_type_of(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::I2_S:
      return 40;  // bitnet.cpp LLAMA_FTYPE_MOSTLY_I2_S
    case TensorType::TQ1_0:
      return 36;  // llama.cpp LLAMA_FTYPE_MOSTLY_TQ1_0
    case TensorType::TQ2_0:
      return 37;
    case TensorType::F16:
      return 1;
    default:
      break;
  }
  throw Error(ErrorCategory::config,
              "synthetic BitLinear weights must be i2_s, tq1_0, tq2_0 or f16, not " +
                  std::string(to_string(weight_type)));
}

std::vector<TensorPlan> plan_tensors(const ModelShape& s, TensorType weight_type, int64_t n_vocab) {
  const int64_t n_embd_kv = s.n_embd / s.n_head * s.n_head_kv;
  std::vector<TensorPlan> plan;
  plan.push_back({"token_embd.weight", Kind::Embedding, {s.n_embd, n_vocab}, TensorType::F16});
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    plan.push_back({p + "attn_norm.weight", Kind::Norm, {s.n_embd}, TensorType::F32});
    plan.push_back({p + "attn_q.weight", Kind::BitLinear, {s.n_embd, s.n_embd}, weight_type});
    plan.push_back({p + "attn_k.weight", Kind::BitLinear, {s.n_embd, n_embd_kv}, weight_type});
    plan.push_back({p + "attn_v.weight", Kind::BitLinear, {s.n_embd, n_embd_kv}, weight_type});
    plan.push_back({p + "attn_sub_norm.weight", Kind::Norm, {s.n_embd}, TensorType::F32});
    plan.push_back({p + "attn_output.weight", Kind::BitLinear, {s.n_embd, s.n_embd}, weight_type});
    plan.push_back({p + "ffn_norm.weight", Kind::Norm, {s.n_embd}, TensorType::F32});
    plan.push_back({p + "ffn_gate.weight", Kind::BitLinear, {s.n_embd, s.n_ff}, weight_type});
    plan.push_back({p + "ffn_up.weight", Kind::BitLinear, {s.n_embd, s.n_ff}, weight_type});
    plan.push_back({p + "ffn_sub_norm.weight", Kind::Norm, {s.n_ff}, TensorType::F32});
    plan.push_back({p + "ffn_down.weight", Kind::BitLinear, {s.n_ff, s.n_embd}, weight_type});
  }
  plan.push_back({"output_norm.weight", Kind::Norm, {s.n_embd}, TensorType::F32});
  return plan;
}

void check_shape(const ModelShape& s, TensorType weight_type) {
  const auto fail = [&](const std::string& what) {
    throw Error(ErrorCategory::config, "synthetic model '" + s.name + "': " + what);
  };
  if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0) {
    fail("dimensions must be positive");
  }
  if (s.n_embd % s.n_head != 0)
    fail("n_head " + std::to_string(s.n_head) + " does not divide n_embd");
  if (s.n_head % s.n_head_kv != 0)
    fail("n_head_kv " + std::to_string(s.n_head_kv) + " does not divide n_head");
  const int64_t block = traits(weight_type).block_size;
  if (s.n_embd % block != 0 || s.n_ff % block != 0) {
    fail("n_embd " + std::to_string(s.n_embd) + " and n_ff " + std::to_string(s.n_ff) +
         " must be multiples of " + std::to_string(block) + " for " +
         std::string(to_string(weight_type)));
  }
}

// Fills bytes [offset, offset + nbytes) of one tensor (whole rows; the last chunk also holds any
// trailer), generating only the rows in the range.
void fill_chunk(uint64_t seed, const TensorPlan& t, uint8_t* dst, int64_t offset, int64_t nbytes) {
  const int64_t k = t.ne[0];
  const int64_t row_bytes = *row_nbytes(t.type, k);
  const int64_t n_rows_total = t.ne.size() > 1 ? t.ne[1] : 1;
  const int64_t row_begin = offset / row_bytes;
  const int64_t n_rows = std::min(nbytes / row_bytes, n_rows_total - row_begin);
  std::vector<float> values(static_cast<size_t>(n_rows * k));
  switch (t.kind) {
    case Kind::Norm:
      for (int64_t r = 0; r < n_rows; ++r) {
        uint64_t st = row_state(seed, t.name, row_begin + r);
        for (int64_t j = 0; j < k; ++j) values[r * k + j] = 1.0f + 0.05f * near_normal(st);
      }
      std::memcpy(dst, values.data(), values.size() * sizeof(float));
      return;
    case Kind::Embedding:
      for (int64_t r = 0; r < n_rows; ++r) {
        uint64_t st = row_state(seed, t.name, row_begin + r);
        for (int64_t j = 0; j < k; ++j) {
          const uint16_t h = fp32_to_fp16(0.25f * near_normal(st));
          std::memcpy(dst + 2 * (r * k + j), &h, 2);
        }
      }
      return;
    case Kind::BitLinear:
      break;
  }
  std::vector<int8_t> trits(values.size());
  bitlinear_trits(seed, t.name, k, row_begin, n_rows, trits.data());
  const float scale = bitlinear_scale(seed, t.name, k);
  for (size_t i = 0; i < trits.size(); ++i) values[i] = static_cast<float>(trits[i]) * scale;
  const int64_t n = n_rows * k;
  switch (t.type) {
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_fp16(values[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case TensorType::TQ1_0:
    case TensorType::TQ2_0:
      quantize_ternary(t.type, values.data(), dst, n, k);
      return;
    case TensorType::I2_S:
      i2s_pack(values.data(), dst, n);
      if (row_begin + n_rows == n_rows_total) {  // the trailer: float32 scale, zero padding
        std::memset(dst + n / 4, 0, static_cast<size_t>(nbytes - n / 4));
        std::memcpy(dst + n / 4, &scale, sizeof(float));
      }
      return;
    default:
      break;
  }
  throw Error(ErrorCategory::internal,
              "synth: cannot write BitLinear weights as " + std::string(to_string(t.type)));
}

}  // namespace

ModelShape preset(std::string_view name) {
  ModelShape s;
  if (name == "tiny") {
    s = {"bitnet-b1.58", "tiny-synth", 256, 2, 4, 2, 768, 1024, 2048, 500000.0f, 1e-5f};
  } else if (name == "2b4t") {
    s = {"bitnet-b1.58", "2b4t-synth", 2560, 30, 20, 5, 6912, 128256, 4096, 500000.0f, 1e-5f};
  } else if (name == "2b-bitnet") {
    s = {"bitnet", "2b-bitnet-synth", 2560, 30, 20, 5, 6912, 32000, 4096, 500000.0f, 1e-5f};
  } else {
    throw Error(ErrorCategory::config, "unknown synthetic model preset '" + std::string(name) +
                                           "' (known: tiny, 2b4t, 2b-bitnet)");
  }
  return s;
}

float bitlinear_scale(uint64_t seed, std::string_view tensor_name, int64_t k) {
  // About 1/sqrt(k/2) (half the weights are non-zero), so activations keep their magnitude.
  uint64_t st = row_state(seed, tensor_name, -1);
  const float target = (0.8f + 0.4f * uniform01(st)) / std::sqrt(0.5f * static_cast<float>(k));
  return round_to_fp16(target);
}

void bitlinear_trits(uint64_t seed, std::string_view tensor_name, int64_t k, int64_t row_begin,
                     int64_t n_rows, int8_t* out) {
  static constexpr int8_t kTrit[4] = {-1, 0, 0, 1};
  for (int64_t r = 0; r < n_rows; ++r) {
    uint64_t st = row_state(seed, tensor_name, row_begin + r);
    int8_t* row = out + r * k;
    for (int64_t j = 0; j < k; j += 32) {
      uint64_t bits = splitmix64(st);
      for (int64_t i = j; i < std::min(k, j + 32); ++i, bits >>= 2) row[i] = kTrit[bits & 3];
    }
  }
}

void write_synthetic_model(const SynthOptions& options, const std::string& path,
                           const gguf::GgufWriter::ProgressFn& progress) {
  const ModelShape& s = options.shape;
  const uint32_t file_type = file_type_of(options.weight_type);
  check_shape(s, options.weight_type);

  gguf::GgufWriter w;
  const std::string a = s.arch + ".";
  w.add_string("general.architecture", s.arch);
  w.add_string("general.name", s.name);
  w.add_u32("general.file_type", file_type);
  w.add_u32("general.quantization_version", 2);
  w.add_u32(a + "context_length", static_cast<uint32_t>(s.n_ctx));
  w.add_u32(a + "embedding_length", static_cast<uint32_t>(s.n_embd));
  w.add_u32(a + "block_count", static_cast<uint32_t>(s.n_layer));
  w.add_u32(a + "feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.add_u32(a + "attention.head_count", static_cast<uint32_t>(s.n_head));
  w.add_u32(a + "attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  w.add_u32(a + "rope.dimension_count", static_cast<uint32_t>(s.n_embd / s.n_head));
  w.add_f32(a + "rope.freq_base", s.rope_freq_base);
  w.add_f32(a + "attention.layer_norm_rms_epsilon", s.rms_eps);
  const int64_t n_vocab =
      options.tokenizer ? options.tokenizer(w) : write_byte_level_vocab(w, s.n_vocab);
  if (n_vocab <= 0 || n_vocab > (int64_t{1} << 31)) {
    throw Error(ErrorCategory::config,
                "synthetic model: tokenizer has " + std::to_string(n_vocab) + " tokens");
  }
  w.add_u32(a + "vocab_size", static_cast<uint32_t>(n_vocab));

  for (auto& t : plan_tensors(s, options.weight_type, n_vocab)) {
    const uint64_t seed = options.seed;
    auto plan = std::make_shared<TensorPlan>(std::move(t));
    w.add_tensor_lazy(plan->name, plan->type, plan->ne,
                      [seed, plan](uint8_t* dst, int64_t offset, int64_t nbytes) {
                        fill_chunk(seed, *plan, dst, offset, nbytes);
                      });
  }
  w.write(path, progress);
}

}  // namespace bitnet::synth
