#include "model/weights.hpp"

#include <omp.h>

#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "common/mapped_file.hpp"
#include "quant/dequantize.hpp"

namespace bitnet {
namespace {

class Binder {
 public:
  Binder(const gguf::GgufFile& file, const ModelConfig& config) : file_(file), config_(config) {}

  [[noreturn]] void fail(std::string_view name, const std::string& what) const {
    throw Error(ErrorCategory::model,
                file_.path() + ": tensor '" + std::string(name) + "' " + what);
  }

  const gguf::TensorInfo& require(const std::string& name,
                                  std::initializer_list<int64_t> shape) const {
    const gguf::TensorInfo* t = file_.find_tensor(name);
    if (t == nullptr) fail(name, "is missing");
    check_shape(*t, shape);
    return *t;
  }

  void check_shape(const gguf::TensorInfo& t, std::initializer_list<int64_t> shape) const {
    std::string want = "[";
    bool ok = true;
    size_t i = 0;
    for (int64_t d : shape) {
      want += (i ? ", " : "") + std::to_string(d);
      if (t.ne[i] != d) ok = false;
      ++i;
    }
    want += "]";
    for (; i < 4; ++i) {
      if (t.ne[i] != 1) ok = false;
    }
    if (!ok) fail(t.name, "has shape " + t.shape_string() + ", expected " + want);
  }

  const float* norm(const std::string& name, int64_t n) const {
    const auto& t = require(name, {n});
    if (t.type != TensorType::F32) {
      fail(name, "has type " + std::string(to_string(t.type)) + ", expected F32");
    }
    return reinterpret_cast<const float*>(t.data);
  }

  BitLinearWeights bitlinear(const std::string& prefix, int64_t k, int64_t n) const {
    const auto& t = require(prefix + ".weight", {k, n});
    if (!is_ternary(t.type)) {
      fail(t.name, "has type " + std::string(to_string(t.type)) +
                       "; BitLinear weights must be I2_S, TQ1_0 or TQ2_0");
    }
    if (t.type != config_.weight_type) {
      fail(t.name, "has type " + std::string(to_string(t.type)) + " but blk.0.attn_q.weight is " +
                       std::string(to_string(config_.weight_type)) +
                       " (mixed ternary types are not supported)");
    }
    BitLinearWeights b;
    b.w = kernels::TernaryWeights::from_tensor(t.type, t.data, k, n);
    // With the mapping named, a kernel that repacks the weights drops the file's pages behind them
    // (memory does not double).
    b.w.source = file_.mapping_or_null();
    kernels::prepare_for_kernels(b.w);
    if (const gguf::TensorInfo* s = file_.find_tensor(prefix + ".scale")) {
      if (s->n_elements != 1) fail(s->name, "must hold one value, has shape " + s->shape_string());
      if (s->type == TensorType::F32) {
        b.out_scale = *reinterpret_cast<const float*>(s->data);
      } else if (s->type == TensorType::F16) {
        b.out_scale = fp16_to_fp32(*reinterpret_cast<const uint16_t*>(s->data));
      } else {
        fail(s->name, "has type " + std::string(to_string(s->type)) + ", expected F32 or F16");
      }
    }
    return b;
  }

  DenseMatrix dense(const std::string& name, int64_t cols, int64_t rows) const {
    const auto& t = require(name, {cols, rows});
    switch (t.type) {
      case TensorType::F32:
      case TensorType::F16:
      case TensorType::BF16:
      case TensorType::Q8_0:
      case TensorType::Q6_K:
        break;
      default:
        fail(name, "has type " + std::string(to_string(t.type)) +
                       "; supported: F32, F16, BF16, Q8_0, Q6_K");
    }
    const auto row_bytes = row_nbytes(t.type, cols);
    if (!row_bytes)
      fail(name, "has rows of " + std::to_string(cols) + " values, not a whole number of blocks");
    DenseMatrix m;
    m.type = t.type;
    m.data = reinterpret_cast<const uint8_t*>(t.data);
    m.cols = cols;
    m.rows = rows;
    m.row_bytes = *row_bytes;
    return m;
  }

 private:
  const gguf::GgufFile& file_;
  const ModelConfig& config_;
};

}  // namespace

void DenseMatrix::dequantize_row_to(int64_t r, float* out) const {
  dequantize_row(type, row_data(r), out, cols);
}

ModelWeights bind_weights(const gguf::GgufFile& file, const ModelConfig& c,
                          const std::function<void(float)>& progress) {
  const Binder b(file, c);
  ModelWeights w;
  w.token_embd = b.dense("token_embd.weight", c.n_embd, c.n_vocab);
  w.output = c.tied_output ? w.token_embd : b.dense("output.weight", c.n_embd, c.n_vocab);
  w.output_norm = b.norm("output_norm.weight", c.n_embd);
  if (file.find_tensor("rope_freqs.weight") != nullptr) {
    w.rope_freqs = b.norm("rope_freqs.weight", c.n_rot / 2);
  }
  w.layers.resize(static_cast<size_t>(c.n_layer));
  const int64_t n_kv = c.n_embd_kv();
  for (int64_t il = 0; il < c.n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    LayerWeights& l = w.layers[static_cast<size_t>(il)];
    l.attn_norm = b.norm(p + "attn_norm.weight", c.n_embd);
    if (c.has_sub_norms) l.attn_sub_norm = b.norm(p + "attn_sub_norm.weight", c.n_embd);
    l.ffn_norm = b.norm(p + "ffn_norm.weight", c.n_embd);
    if (c.has_sub_norms) l.ffn_sub_norm = b.norm(p + "ffn_sub_norm.weight", c.n_ff);
    l.wq = b.bitlinear(p + "attn_q", c.n_embd, c.n_embd);
    l.wk = b.bitlinear(p + "attn_k", c.n_embd, n_kv);
    l.wv = b.bitlinear(p + "attn_v", c.n_embd, n_kv);
    l.wo = b.bitlinear(p + "attn_output", c.n_embd, c.n_embd);
    l.gate = b.bitlinear(p + "ffn_gate", c.n_embd, c.n_ff);
    l.up = b.bitlinear(p + "ffn_up", c.n_embd, c.n_ff);
    l.down = b.bitlinear(p + "ffn_down", c.n_ff, c.n_embd);
    if (progress) progress(static_cast<float>(il + 1) / static_cast<float>(c.n_layer));
  }
  return w;
}

void quantize_output_head(ModelWeights& w, TensorType type, const MappedFile* source,
                          const std::function<void(float)>& progress) {
  const DenseMatrix& head = w.output;
  w.output_quantized = kernels::quantize_head(type, head.type, head.data, head.row_bytes, head.rows,
                                              head.cols, omp_get_max_threads(), progress);
  if (w.output_quantized.storage && source != nullptr) {
    source->advise_dont_need(reinterpret_cast<const std::byte*>(head.data),
                             static_cast<size_t>(head.rows * head.row_bytes));
  }
}

}  // namespace bitnet
