#include "backends/cuda/ternary_layout.hpp"

#include <string>

#include "backends/cuda/lane_dot.hpp"
#include "bitnet/error.hpp"
#include "quant/dequantize.hpp"

namespace bitnet::cuda {
namespace {

// Packs one block's values (-1..2; 2 only from scrambled codes) as codes in lane order.
void pack_block(const int8_t* values, uint8_t* out) {
  for (int p = 0; p < kLanes; ++p) {
    for (int c = 0; c < kLaneBytes; ++c) {
      uint8_t byte = 0;
      for (int i = 0; i < 4; ++i) {
        const int code = (values[32 * c + 4 * p + i] + 1) & 3;
        byte = static_cast<uint8_t>(byte | code << (2 * i));
      }
      out[p * kLaneBytes + c] = byte;
    }
  }
}

}  // namespace

TernaryDeviceLayout repack_for_device(const kernels::TernaryWeights& w, const char* tensor) {
  if (w.k % kBlock != 0) {
    throw Error(ErrorCategory::model,
                std::string("tensor ") + tensor + ": " + std::to_string(w.k) +
                    " inputs per row, the CUDA kernels need a multiple of 256");
  }
  TernaryDeviceLayout out;
  out.type = w.type;
  out.k = w.k;
  out.n = w.n;
  out.blocks_per_row = w.k / kBlock;
  out.codes.resize(static_cast<size_t>(w.n * out.blocks_per_row * kBlockBytes));
  const bool i2s = w.type == TensorType::I2_S;
  if (i2s) {
    out.tensor_scale = w.tensor_scale;
  } else {
    out.block_scales.resize(static_cast<size_t>(w.n * out.blocks_per_row));
  }
  const int64_t type_size = i2s ? 0 : traits(w.type).type_size;
  int8_t values[kBlock];
  for (int64_t r = 0; r < w.n; ++r) {
    for (int64_t b = 0; b < out.blocks_per_row; ++b) {
      const int64_t block = r * out.blocks_per_row + b;
      if (i2s) {
        for (int j = 0; j < kBlock; ++j)
          values[j] = static_cast<int8_t>(i2s_code(w.data, r * w.k + b * kBlock + j) - 1);
      } else {
        const uint8_t* src = w.data + block * type_size;
        tq_unpack_block(w.type, src, values);
        out.block_scales[static_cast<size_t>(block)] = tq_block_scale(w.type, src);
      }
      pack_block(values, out.codes.data() + block * kBlockBytes);
    }
  }
  return out;
}

void matmul_on_host(const TernaryDeviceLayout& w, const kernels::QuantizedActs& a, float* y) {
  const int blocks = static_cast<int>(w.blocks_per_row);
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const int8_t* q = a.row(t);
    for (int64_t r = 0; r < w.n; ++r) {
      float out = 0.0f;
      if (w.type == TensorType::I2_S) {
        int32_t dot = 0;
        for (int b = 0; b < blocks; ++b)
          dot += block_dot(w.row_codes(r) + b * kBlockBytes, q + b * kBlock);
        out = i2s_output(dot, a.qsum[t], a.scale[t], w.tensor_scale);
      } else {
        const float* act_scales = a.scale.data() + t * blocks;
        out = a.order == kernels::SumOrder::reference
                  ? tq_row_dot_reference(w.row_codes(r), w.row_scales(r), blocks, q, act_scales)
                  : tq_row_dot_blocks(w.row_codes(r), w.row_scales(r), blocks, q, act_scales);
      }
      y[t * w.n + r] = out;
    }
  }
}

}  // namespace bitnet::cuda
