#include "quant/dequantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"

namespace bitnet {
namespace {

constexpr int64_t QK_K = 256;

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void dequant_q8_0(const uint8_t* src, float* y, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += 34) {
    const float d = fp16_to_fp32(load_u16(src));
    for (int j = 0; j < 32; ++j) *y++ = d * static_cast<float>(static_cast<int8_t>(src[2 + j]));
  }
}

// block_q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d (fp16).
void dequant_q6_k(const uint8_t* src, float* y, int64_t n) {
  for (int64_t b = 0; b < n / QK_K; ++b, src += 210) {
    const uint8_t* ql = src;
    const uint8_t* qh = src + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(src + 192);
    const float d = fp16_to_fp32(load_u16(src + 208));
    for (int half = 0; half < 2; ++half) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// block_tq2_0: qs[64] (4 values per byte: value m + 32*l of each 128-group at bits 2l of byte m),
// d.
void unpack_tq2_0(const uint8_t* src, int8_t* t) {
  for (int j = 0; j < 64; j += 32) {
    for (int l = 0; l < 4; ++l) {
      for (int m = 0; m < 32; ++m) *t++ = static_cast<int8_t>(((src[j + m] >> (l * 2)) & 3) - 1);
    }
  }
}

// One base-3 digit of a TQ1_0 byte: the byte holds a fixed-point fraction q/243, and multiplying by
// 3^n shifts digit n to the top; (q * 3) >> 8 reads it.
int8_t tq1_trit(uint8_t packed, int n) {
  static constexpr uint8_t kPow3[6] = {1, 3, 9, 27, 81, 243};
  const auto q = static_cast<uint8_t>(packed * kPow3[n]);
  return static_cast<int8_t>(((static_cast<uint16_t>(q) * 3) >> 8) - 1);
}

// block_tq1_0: qs[48] (5 trits per byte: 32 bytes then 16 bytes), qh[4] (4 trits per byte), d.
void unpack_tq1_0(const uint8_t* src, int8_t* t) {
  const uint8_t* qs = src;
  const uint8_t* qh = src + 48;
  for (int n = 0; n < 5; ++n) {
    for (int m = 0; m < 32; ++m) *t++ = tq1_trit(qs[m], n);
  }
  for (int n = 0; n < 5; ++n) {
    for (int m = 0; m < 16; ++m) *t++ = tq1_trit(qs[32 + m], n);
  }
  for (int n = 0; n < 4; ++n) {
    for (int m = 0; m < 4; ++m) *t++ = tq1_trit(qh[m], n);
  }
}

void dequant_tq(TensorType type, const uint8_t* src, float* y, int64_t n) {
  const int64_t ts = traits(type).type_size;
  int8_t trits[QK_K];
  for (int64_t b = 0; b < n / QK_K; ++b, src += ts, y += QK_K) {
    tq_unpack_block(type, src, trits);
    const float d = fp16_to_fp32(load_u16(src + ts - 2));
    for (int64_t j = 0; j < QK_K; ++j) y[j] = static_cast<float>(trits[j]) * d;
  }
}

int ternary_of(float x, float inv_d) {
  return std::clamp(static_cast<int>(std::lround(x * inv_d)), -1, 1);
}

float block_absmax(const float* x, int64_t n) {
  float amax = 0;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

void quantize_tq2_0(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / QK_K; ++b, dst += 66, x += QK_K) {
    const float d = block_absmax(x, QK_K);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < 64; j += 32) {
      for (int m = 0; m < 32; ++m) {
        uint8_t q = 0;
        for (int l = 0; l < 4; ++l)
          q |= static_cast<uint8_t>((ternary_of(x[j * 4 + m + l * 32], id) + 1) << (2 * l));
        dst[j + m] = q;
      }
    }
    const uint16_t dh = fp32_to_fp16(d);
    std::memcpy(dst + 64, &dh, 2);
  }
}

// Packs trits (most significant first) into a byte as the ceiling of value * 256 / 243.
uint8_t tq1_pack(const int* trits, int count) {
  unsigned q = 0;
  for (int t = 0; t < count; ++t) q = q * 3 + static_cast<unsigned>(trits[t] + 1);
  for (int t = count; t < 5; ++t) q *= 3;
  return static_cast<uint8_t>((q * 256 + 242) / 243);
}

void quantize_tq1_0(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / QK_K; ++b, dst += 54, x += QK_K) {
    const float d = block_absmax(x, QK_K);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int trits[5];
    for (int m = 0; m < 32; ++m) {
      for (int t = 0; t < 5; ++t) trits[t] = ternary_of(x[m + t * 32], id);
      dst[m] = tq1_pack(trits, 5);
    }
    for (int m = 0; m < 16; ++m) {
      for (int t = 0; t < 5; ++t) trits[t] = ternary_of(x[160 + m + t * 16], id);
      dst[32 + m] = tq1_pack(trits, 5);
    }
    for (int m = 0; m < 4; ++m) {
      for (int t = 0; t < 4; ++t) trits[t] = ternary_of(x[240 + m + t * 4], id);
      dst[48 + m] = tq1_pack(trits, 4);
    }
    const uint16_t dh = fp32_to_fp16(d);
    std::memcpy(dst + 52, &dh, 2);
  }
}

void quantize_i2_s(const float* x, uint8_t* dst, int64_t n) {
  const float scale = block_absmax(x, n);
  i2s_pack(x, dst, n);
  std::memset(dst + n / 4, 0, 32);
  std::memcpy(dst + n / 4, &scale, sizeof(float));
}

void check_shape(TensorType type, int64_t n, int64_t n_per_row) {
  if (!tensor_nbytes(type, n, n_per_row)) {
    throw Error(ErrorCategory::model, "tensor of " + std::to_string(n) + " values in rows of " +
                                          std::to_string(n_per_row) + " does not fit type " +
                                          std::string(to_string(type)));
  }
}

}  // namespace

bool can_dequantize(TensorType type) {
  switch (type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q8_0:
    case TensorType::Q6_K:
    case TensorType::TQ1_0:
    case TensorType::TQ2_0:
    case TensorType::I2_S:
      return true;
    default:
      return false;
  }
}

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  switch (type) {
    case TensorType::F32:
      std::memcpy(dst, p, static_cast<size_t>(n) * 4);
      return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_u16(p + 2 * i));
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_u16(p + 2 * i));
      return;
    case TensorType::Q8_0:
      dequant_q8_0(p, dst, n);
      return;
    case TensorType::Q6_K:
      dequant_q6_k(p, dst, n);
      return;
    case TensorType::TQ1_0:
    case TensorType::TQ2_0:
      dequant_tq(type, p, dst, n);
      return;
    default:
      break;
  }
  throw Error(ErrorCategory::model,
              "cannot dequantize rows of type " + std::string(to_string(type)));
}

void dequantize_tensor(TensorType type, const void* src, float* dst, int64_t n, int64_t n_per_row) {
  check_shape(type, n, n_per_row);
  if (type == TensorType::I2_S) {
    const auto* p = static_cast<const uint8_t*>(src);
    const float scale = i2s_scale(src, n);
    for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<float>(i2s_code(p, j) - 1) * scale;
    return;
  }
  dequantize_row(type, src, dst, n);  // every other type's rows are contiguous whole blocks
}

void quantize_ternary(TensorType type, const float* src, void* dst, int64_t n, int64_t n_per_row) {
  check_shape(type, n, n_per_row);
  auto* p = static_cast<uint8_t*>(dst);
  switch (type) {
    case TensorType::TQ1_0:
      quantize_tq1_0(src, p, n);
      return;
    case TensorType::TQ2_0:
      quantize_tq2_0(src, p, n);
      return;
    case TensorType::I2_S:
      quantize_i2_s(src, p, n);
      return;
    default:
      break;
  }
  throw Error(ErrorCategory::config, "not a ternary type: " + std::string(to_string(type)));
}

void tq_unpack_block(TensorType type, const void* block, int8_t* trits) {
  const auto* p = static_cast<const uint8_t*>(block);
  if (type == TensorType::TQ2_0) {
    unpack_tq2_0(p, trits);
  } else if (type == TensorType::TQ1_0) {
    unpack_tq1_0(p, trits);
  } else {
    throw Error(ErrorCategory::internal,
                "tq_unpack_block: not a TQ type: " + std::string(to_string(type)));
  }
}

float tq_block_scale(TensorType type, const void* block) {
  const int64_t ts = traits(type).type_size;
  return fp16_to_fp32(load_u16(static_cast<const uint8_t*>(block) + ts - 2));
}

void i2s_pack(const float* src, uint8_t* dst, int64_t n) {
  std::memset(dst, 0, static_cast<size_t>(n / 4));
  for (int64_t j = 0; j < n; ++j) {
    // bitnet.cpp's rule: the sign decides, only (near-)zeros become 0; the scale is max|x|.
    const int code = std::fabs(static_cast<double>(src[j])) < 1e-6 ? 1 : (src[j] > 0 ? 2 : 0);
    const int64_t k = j % 128;
    dst[(j / 128) * 32 + k % 32] |= static_cast<uint8_t>(code << (6 - 2 * (k / 32)));
  }
}

float i2s_scale(const void* tensor_data, int64_t n) {
  float scale;
  std::memcpy(&scale, static_cast<const uint8_t*>(tensor_data) + n / 4, sizeof(float));
  return scale;
}

}  // namespace bitnet
