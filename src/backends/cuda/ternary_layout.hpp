// The device layout of a ternary weight matrix (I2_S, TQ1_0, TQ2_0 alike), built on the host when
// a layer is uploaded: per row, per 256-block, the 2-bit codes (w + 1) in ggml's lane order, so
// that the eight threads of a row read one contiguous 64-byte block and each thread's lane is 8
// contiguous bytes (lane_dot.hpp); per row and block the weight scale as float (TQ), or the
// tensor's one scale (I2_S). Plain C++: tested on any machine.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/bitlinear.hpp"

namespace bitnet::cuda {

struct TernaryDeviceLayout {
  TensorType type = TensorType::TQ2_0;
  int64_t k = 0;  // inputs (a multiple of 256)
  int64_t n = 0;  // outputs (rows)
  int64_t blocks_per_row = 0;
  // [n][blocks_per_row][8 lanes][8 bytes]: byte c of lane p holds the codes of the block's elements
  // 32c + 4p .. 32c + 4p + 3, element 32c + 4p + i at bits 2i.
  std::vector<uint8_t> codes;
  std::vector<float> block_scales;  // TQ: [n][blocks_per_row]; I2_S: empty
  float tensor_scale = 1.0f;        // I2_S

  const uint8_t* row_codes(int64_t row) const { return codes.data() + row * blocks_per_row * 64; }
  const float* row_scales(int64_t row) const { return block_scales.data() + row * blocks_per_row; }
  int64_t device_bytes() const {
    return static_cast<int64_t>(codes.size() + block_scales.size() * sizeof(float));
  }
};

// Repacks w (as stored in the GGUF file). Throws Error(model) naming `tensor` when k is not a
// multiple of 256 (the device kernels work in whole blocks).
TernaryDeviceLayout repack_for_device(const kernels::TernaryWeights& w, const char* tensor);

// y[t][r] = the kernels' result for every token of `a` and every row, computed on the host with the
// device's functions (lane_dot.hpp): the oracle the CUDA tests compare against, and the proof on
// any machine that the layout and the lane order reproduce kernels::ternary_matmul_ref.
void matmul_on_host(const TernaryDeviceLayout& w, const kernels::QuantizedActs& a, float* y);

}  // namespace bitnet::cuda
