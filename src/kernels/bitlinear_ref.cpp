#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "kernels/bitlinear.hpp"
#include "quant/dequantize.hpp"

namespace bitnet::kernels {
namespace {

constexpr int64_t QK_K = 256;

// Round half to even, as ggml's nearest_int() and the default FP environment do.
int round_half_even(float x) {
  return static_cast<int>(std::nearbyintf(x));
}

void quantize_row_absmax(const float* x, int64_t k, int8_t* q, float* scale, int32_t* qsum) {
  double max = 0;
  for (int64_t i = 0; i < k; ++i) max = std::max(max, std::fabs(static_cast<double>(x[i])));
  const auto s = static_cast<float>(127.0 / std::max(max, 1e-5));
  int32_t sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    const int v = std::clamp(round_half_even(x[i] * s), -128, 127);
    q[i] = static_cast<int8_t>(v);
    sum += v;
  }
  *scale = s;
  *qsum = sum;
}

void quantize_row_q8k(const float* x, int64_t k, int8_t* q, float* d, int32_t* bsum) {
  for (int64_t b = 0; b < k / QK_K; ++b, x += QK_K, q += QK_K) {
    bsum[b] = 0;
    float max = 0;
    float amax = 0;
    for (int64_t j = 0; j < QK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0) {
      d[b] = 0;
      std::memset(q, 0, QK_K);
      continue;
    }
    const float iscale = -127.f / max;
    for (int64_t j = 0; j < QK_K; ++j) {
      q[j] = static_cast<int8_t>(std::min(127, round_half_even(iscale * x[j])));
      bsum[b] += q[j];
    }
    d[b] = 1 / iscale;
  }
}

// ggml's AVX2 TQ1_0/TQ2_0 x Q8_K dot product (the x86 build of the reference; there is no AVX-512
// variant) sums each 256-block in 8 int32 lanes: lane p holds sum over elements e with (e % 32) / 4
// == p of (w_e + 1) * q_e, minus the bsums of q over elements 32p..32p+31. Each lane is scaled by
// the block's d = d_act * d_w and accumulated across blocks in its own float lane (GCC contracts
// the multiply-add into an FMA), then the 8 lanes are reduced as hsum_float_8. The integer total is
// the same as the plain dot; the float rounding is what the reference does.
float tq_row_dot_ggml(const TernaryWeights& w, int64_t row, const QuantizedActs& a, int64_t t) {
  const int64_t nb = w.k / QK_K;
  const int64_t ts = traits(w.type).type_size;
  const uint8_t* row_data = w.data + row * nb * ts;
  const int8_t* q = a.row(t);
  float acc[8] = {};
  int8_t wv[QK_K];
  for (int64_t b = 0; b < nb; ++b, q += QK_K) {
    tq_unpack_block(w.type, row_data + b * ts, wv);
    int32_t lane[8] = {};
    for (int64_t e = 0; e < QK_K; ++e) lane[(e % 32) / 4] += (wv[e] + 1) * q[e];
    for (int64_t e = 0; e < QK_K; ++e) lane[e / 32] -= q[e];
    const float d = a.scale[t * nb + b] * tq_block_scale(w.type, row_data + b * ts);
    for (int p = 0; p < 8; ++p) acc[p] = std::fma(static_cast<float>(lane[p]), d, acc[p]);
  }
  const float r0 = acc[4] + acc[0], r1 = acc[5] + acc[1], r2 = acc[6] + acc[2],
              r3 = acc[7] + acc[3];
  return (r0 + r2) + (r1 + r3);
}

// The blocks order: each block's exact integer sum, rescaled and accumulated with one FMA.
float tq_row_dot_blocks(const TernaryWeights& w, int64_t row, const QuantizedActs& a, int64_t t) {
  const int64_t nb = w.k / QK_K;
  const int64_t ts = traits(w.type).type_size;
  const uint8_t* row_data = w.data + row * nb * ts;
  const int8_t* q = a.row(t);
  float acc = 0.0f;
  int8_t wv[QK_K];
  for (int64_t b = 0; b < nb; ++b, q += QK_K) {
    tq_unpack_block(w.type, row_data + b * ts, wv);
    int32_t sum = 0;
    for (int64_t e = 0; e < QK_K; ++e) sum += wv[e] * q[e];
    const float d = a.scale[t * nb + b] * tq_block_scale(w.type, row_data + b * ts);
    acc = std::fma(static_cast<float>(sum), d, acc);
  }
  return acc;
}

}  // namespace

ActQuant act_quant_for(TensorType weight_type) {
  return weight_type == TensorType::I2_S ? ActQuant::PerRowAbsmax : ActQuant::Q8K;
}

void quantize_acts_ref(ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                       QuantizedActs& out) {
  if (rule == ActQuant::Q8K && k % QK_K != 0) {
    throw Error(
        ErrorCategory::model,
        "Q8_K activations need a row length that is a multiple of 256, got " + std::to_string(k));
  }
  out.rule = rule;
  out.k = k;
  out.n_tokens = n_tokens;
  out.q.resize(static_cast<size_t>(n_tokens * k));
  if (rule == ActQuant::PerRowAbsmax) {
    out.scale.resize(static_cast<size_t>(n_tokens));
    out.qsum.resize(static_cast<size_t>(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t) {
      quantize_row_absmax(x + t * k, k, out.q.data() + t * k, &out.scale[t], &out.qsum[t]);
    }
  } else {
    const int64_t nb = k / QK_K;
    out.scale.resize(static_cast<size_t>(n_tokens * nb));
    out.bsum.resize(static_cast<size_t>(n_tokens * nb));
    for (int64_t t = 0; t < n_tokens; ++t) {
      quantize_row_q8k(x + t * k, k, out.q.data() + t * k, out.scale.data() + t * nb,
                       out.bsum.data() + t * nb);
    }
  }
}

TernaryWeights TernaryWeights::from_tensor(TensorType type, const void* data, int64_t k,
                                           int64_t n) {
  if (!is_ternary(type)) {
    throw Error(ErrorCategory::model, "not a ternary weight type: " + std::string(to_string(type)));
  }
  if (!row_nbytes(type, k)) {
    throw Error(ErrorCategory::model, "row length " + std::to_string(k) + " does not fit " +
                                          std::string(to_string(type)));
  }
  TernaryWeights w;
  w.type = type;
  w.data = static_cast<const uint8_t*>(data);
  w.k = k;
  w.n = n;
  if (type == TensorType::I2_S) w.tensor_scale = i2s_scale(data, k * n);
  return w;
}

void ternary_row_dot_blocks_ref(const TernaryWeights& w, int64_t row, const int8_t* q,
                                int32_t* out) {
  if (w.type == TensorType::I2_S) {
    const uint8_t* packed = w.data;
    int32_t sum = 0;
    for (int64_t j = 0; j < w.k; ++j) sum += (i2s_code(packed, row * w.k + j) - 1) * q[j];
    out[0] = sum;
    return;
  }
  const int64_t ts = traits(w.type).type_size;
  const uint8_t* row_data = w.data + row * (w.k / QK_K) * ts;
  int8_t wv[QK_K];
  for (int64_t b = 0; b < w.k / QK_K; ++b) {
    tq_unpack_block(w.type, row_data + b * ts, wv);
    int32_t sum = 0;
    for (int64_t j = 0; j < QK_K; ++j) sum += wv[j] * q[b * QK_K + j];
    out[b] = sum;
  }
}

void ternary_matmul_ref(const TernaryWeights& w, const QuantizedActs& a, float* y,
                        int64_t row_begin, int64_t row_end) {
  const int64_t nb = w.type == TensorType::I2_S ? 1 : w.k / QK_K;
  std::vector<int32_t> sums(static_cast<size_t>(nb));
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    for (int64_t r = row_begin; r < row_end; ++r) {
      ternary_row_dot_blocks_ref(w, r, a.row(t), sums.data());
      float out = 0;
      if (w.type == TensorType::I2_S) {
        // sum(code*q) - sum(q) == sum(w*q); both sums are exact in float for any real K.
        const int32_t code_sum = sums[0] + a.qsum[t];
        out = (static_cast<float>(code_sum) - static_cast<float>(a.qsum[t])) / a.scale[t] *
              w.tensor_scale;
      } else {
        out = a.order == SumOrder::blocks ? tq_row_dot_blocks(w, r, a, t)
                                          : tq_row_dot_ggml(w, r, a, t);
      }
      y[t * w.n + r] = out;
    }
  }
}

}  // namespace bitnet::kernels
