// The ternary dot products of the CUDA kernels, written once for the device and the host so the
// host tests can hold them to the scalar oracle (kernels::ternary_matmul_ref) bit for bit.
//
// A 256-block is split as ggml's AVX2 TQ vec_dot splits it: lane p (0..7) sums code*q over the
// elements e with (e % 32) / 4 == p (code = w + 1), minus the sum of q over elements 32p..32p+31.
// The eight lanes add up to the block's exact sum of w*q; the reference numerics accumulate each
// lane's float across blocks and reduce the eight at the end, which the kernels reproduce with one
// thread per lane. ternary_layout.hpp stores each lane's codes as 8 contiguous bytes.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define BITNET_HD __host__ __device__ __forceinline__
#else
#define BITNET_HD inline
#endif

namespace bitnet::cuda {

constexpr int kBlock = 256;      // weights per block (QK_K)
constexpr int kLanes = 8;        // ggml's lanes per block
constexpr int kLaneBytes = 8;    // code bytes per lane: 32 weights, 2 bits each
constexpr int kBlockBytes = 64;  // kLanes * kLaneBytes

// Signed 4 x int8 dot product plus c: __dp4a on the device, the same sum on the host.
BITNET_HD int32_t dot4(int32_t a, int32_t b, int32_t c) {
#if defined(__CUDA_ARCH__)
  return __dp4a(a, b, c);
#else
  for (int i = 0; i < 4; ++i) {
    c += static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * i)) *
         static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i));
  }
  return c;
#endif
}

// Four 2-bit codes (element i at bits 2i) as four int8 values 0..3 in one word.
BITNET_HD int32_t expand_codes(uint32_t byte) {
  return static_cast<int32_t>((byte & 3u) | ((byte >> 2) & 3u) << 8 | ((byte >> 4) & 3u) << 16 |
                              ((byte >> 6) & 3u) << 24);
}

// Four int8 activations as one word (little-endian, as the device loads them).
BITNET_HD int32_t load4(const int8_t* q) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const int32_t*>(q);
#else
  int32_t w;
  std::memcpy(&w, q, 4);
  return w;
#endif
}

// ggml's lane p of one block: `lane_codes` are the lane's 8 bytes, `q` the block's 256 values.
BITNET_HD int32_t block_lane_sum(const uint8_t* lane_codes, const int8_t* q, int p) {
  int32_t code_sum = 0;
  for (int c = 0; c < kLaneBytes; ++c)
    code_sum = dot4(expand_codes(lane_codes[c]), load4(q + 32 * c + 4 * p), code_sum);
  constexpr int32_t ones = 0x01010101;
  int32_t act_sum = 0;
  for (int w = 0; w < 8; ++w) act_sum = dot4(ones, load4(q + 32 * p + 4 * w), act_sum);
  return code_sum - act_sum;
}

// The exact sum of w*q over one block (the blocks order and I2_S need only the total): the lanes
// add up to it in any order.
BITNET_HD int32_t block_dot(const uint8_t* block_codes, const int8_t* q) {
  int32_t sum = 0;
  for (int p = 0; p < kLanes; ++p) sum += block_lane_sum(block_codes + p * kLaneBytes, q, p);
  return sum;
}

// ggml's hsum_float_8 over the eight lane accumulators.
BITNET_HD float reduce_lanes(const float* acc) {
  const float r0 = acc[4] + acc[0], r1 = acc[5] + acc[1], r2 = acc[6] + acc[2],
              r3 = acc[7] + acc[3];
  return (r0 + r2) + (r1 + r3);
}

// One TQ1_0/TQ2_0 output in the reference order: lane p of every block scaled by d_act * d_w and
// fused into lane p's accumulator, then reduce_lanes.
BITNET_HD float tq_row_dot_reference(const uint8_t* row_codes, const float* row_scales, int blocks,
                                     const int8_t* q, const float* act_scales) {
  float acc[kLanes] = {};
  for (int b = 0; b < blocks; ++b) {
    const float d = act_scales[b] * row_scales[b];
    for (int p = 0; p < kLanes; ++p) {
      const int32_t lane =
          block_lane_sum(row_codes + b * kBlockBytes + p * kLaneBytes, q + b * kBlock, p);
      acc[p] = fmaf(static_cast<float>(lane), d, acc[p]);
    }
  }
  return reduce_lanes(acc);
}

// One TQ output in the blocks order: each block's exact sum, one fused multiply-add per block.
BITNET_HD float tq_row_dot_blocks(const uint8_t* row_codes, const float* row_scales, int blocks,
                                  const int8_t* q, const float* act_scales) {
  float acc = 0.0f;
  for (int b = 0; b < blocks; ++b) {
    const int32_t sum = block_dot(row_codes + b * kBlockBytes, q + b * kBlock);
    acc = fmaf(static_cast<float>(sum), act_scales[b] * row_scales[b], acc);
  }
  return acc;
}

// One I2_S output from the row's exact sum of w*q, as bitnet.cpp rescales it: the code sum
// (w + 1 codes) less the activation sum, over the activation scale, times the tensor scale.
BITNET_HD float i2s_output(int32_t dot, int32_t act_sum, float act_scale, float tensor_scale) {
  const int32_t code_sum = dot + act_sum;
  return (static_cast<float>(code_sum) - static_cast<float>(act_sum)) / act_scale * tensor_scale;
}

}  // namespace bitnet::cuda
