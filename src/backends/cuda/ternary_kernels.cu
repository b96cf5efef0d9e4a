// The CUDA kernels of ternary_kernels.hpp. Compiled with --fmad=false: the only fused
// multiply-adds are the fmaf calls that mirror the reference's.
#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "backends/cuda/lane_dot.hpp"
#include "backends/cuda/ternary_kernels.hpp"
#include "bitnet/error.hpp"

namespace bitnet::cuda {
namespace {

void check(cudaError_t status, const char* call, size_t bytes = 0) {
  if (status == cudaSuccess) return;
  std::string what = std::string(call) + (bytes ? " (" + std::to_string(bytes) + " bytes)" : "") +
                     ": " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status);
  throw Error(ErrorCategory::device, "CUDA: " + what);
}

void ensure(DeviceBuffer& buffer, size_t bytes) {
  if (buffer.size() < bytes) buffer = DeviceBuffer(bytes);
}

constexpr int kQuantThreads = 256;

// bitnet.cpp's rule, one CUDA block per token: s = (float)(127 / max(max|x| in double, 1e-5)),
// q = clamp(round_half_even(x * s), -128, 127). The max of floats is exact in any order.
__global__ void quantize_absmax_kernel(const float* x, int64_t k, int8_t* q, float* scale,
                                       int32_t* qsum) {
  __shared__ float max_part[kQuantThreads];
  __shared__ int32_t sum_part[kQuantThreads];
  const int64_t t = blockIdx.x;
  const float* row = x + t * k;
  float m = 0.0f;
  for (int64_t i = threadIdx.x; i < k; i += blockDim.x) m = fmaxf(m, fabsf(row[i]));
  max_part[threadIdx.x] = m;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride)
      max_part[threadIdx.x] = fmaxf(max_part[threadIdx.x], max_part[threadIdx.x + stride]);
    __syncthreads();
  }
  const float s = static_cast<float>(127.0 / fmax(static_cast<double>(max_part[0]), 1e-5));
  int32_t sum = 0;
  for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
    const int v = min(127, max(-128, __float2int_rn(row[i] * s)));
    q[t * k + i] = static_cast<int8_t>(v);
    sum += v;
  }
  sum_part[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) sum_part[threadIdx.x] += sum_part[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    scale[t] = s;
    qsum[t] = sum_part[0];
  }
}

// ggml's Q8_K rule, one CUDA block of 256 threads per 256-block: the value of largest magnitude
// (the first one on a tie) sets iscale = -127 / max; q = min(127, round_half_even(iscale * x)).
__global__ void quantize_q8k_kernel(const float* x, int8_t* q, float* d, int32_t* bsum) {
  __shared__ float amax_part[kBlock];
  __shared__ int index_part[kBlock];
  __shared__ int32_t sum_part[kBlock];
  const int64_t block = blockIdx.x;
  const int j = threadIdx.x;
  const float v = x[block * kBlock + j];
  amax_part[j] = fabsf(v);
  index_part[j] = j;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride /= 2) {
    if (j < stride) {
      const float other = amax_part[j + stride];
      // A tie goes to the lower index (the first maximum), wherever the tree put it.
      if (other > amax_part[j] ||
          (other == amax_part[j] && index_part[j + stride] < index_part[j])) {
        amax_part[j] = other;
        index_part[j] = index_part[j + stride];
      }
    }
    __syncthreads();
  }
  const float amax = amax_part[0];
  const float max = x[block * kBlock + index_part[0]];
  int qv = 0;
  float iscale = 0.0f;
  if (amax != 0.0f) {
    iscale = -127.0f / max;
    qv = min(127, __float2int_rn(iscale * v));
  }
  q[block * kBlock + j] = static_cast<int8_t>(qv);
  sum_part[j] = qv;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride /= 2) {
    if (j < stride) sum_part[j] += sum_part[j + stride];
    __syncthreads();
  }
  if (j == 0) {
    bsum[block] = sum_part[0];
    d[block] = amax != 0.0f ? 1.0f / iscale : 0.0f;
  }
}

constexpr int kRowsPerWarp = 32 / kLanes;  // eight threads (lanes) per row
constexpr int kMatmulThreads = 128;
constexpr int kRowsPerCta = kMatmulThreads / 32 * kRowsPerWarp;

// Thread (row, p) computes ggml's lane p of every block of its row, for every token; the row's
// eight threads then combine their lanes in the order `order` asks (lane_dot.hpp).
template <bool kI2S, kernels::SumOrder kOrder>
__global__ void ternary_matmul_kernel(const uint8_t* codes, const float* block_scales,
                                      float tensor_scale, int64_t n, int blocks, const int8_t* q,
                                      const float* act_scale, const int32_t* act_sum,
                                      int64_t n_tokens, float* y) {
  const int lane_in_warp = threadIdx.x % 32;
  const int p = lane_in_warp % kLanes;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerCta +
                      threadIdx.x / 32 * kRowsPerWarp + lane_in_warp / kLanes;
  const bool active = row < n;
  const int64_t safe_row = active ? row : 0;  // every thread takes part in the shuffles
  const uint8_t* row_codes = codes + safe_row * blocks * kBlockBytes + p * kLaneBytes;
  const float* row_scales = kI2S ? nullptr : block_scales + safe_row * blocks;
  const int leader = lane_in_warp - p;
  const int64_t k = static_cast<int64_t>(blocks) * kBlock;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int8_t* qt = q + t * k;
    float acc = 0.0f;
    int32_t exact = 0;
    for (int b = 0; b < blocks; ++b) {
      const int32_t lane = block_lane_sum(row_codes + b * kBlockBytes, qt + b * kBlock, p);
      if constexpr (kI2S) {
        exact += lane;
      } else if constexpr (kOrder == kernels::SumOrder::reference) {
        acc = fmaf(static_cast<float>(lane), act_scale[t * blocks + b] * row_scales[b], acc);
      } else {
        int32_t sum = lane;
        for (int offset = kLanes / 2; offset > 0; offset /= 2)
          sum += __shfl_xor_sync(0xffffffffu, sum, offset, kLanes);
        acc = fmaf(static_cast<float>(sum), act_scale[t * blocks + b] * row_scales[b], acc);
      }
    }
    float out = 0.0f;
    if constexpr (kI2S) {
      for (int offset = kLanes / 2; offset > 0; offset /= 2)
        exact += __shfl_xor_sync(0xffffffffu, exact, offset, kLanes);
      out = i2s_output(exact, act_sum[t], act_scale[t], tensor_scale);
    } else if constexpr (kOrder == kernels::SumOrder::reference) {
      float lanes[kLanes];
      for (int i = 0; i < kLanes; ++i) lanes[i] = __shfl_sync(0xffffffffu, acc, leader + i);
      out = reduce_lanes(lanes);
    } else {
      out = acc;
    }
    if (active && p == 0) y[t * n + row] = out;
  }
}

template <bool kI2S, kernels::SumOrder kOrder>
void launch_matmul(const DeviceTernaryMatrix& w, const DeviceActs& a, float* y,
                   cudaStream_t stream) {
  const auto ctas = static_cast<unsigned>((w.n + kRowsPerCta - 1) / kRowsPerCta);
  ternary_matmul_kernel<kI2S, kOrder><<<ctas, kMatmulThreads, 0, stream>>>(
      w.codes.as<uint8_t>(), w.block_scales.as<float>(), w.tensor_scale, w.n,
      static_cast<int>(w.blocks_per_row), a.q.as<int8_t>(), a.scale.as<float>(),
      a.sum.as<int32_t>(), a.n_tokens, y);
}

}  // namespace

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) check(cudaMalloc(&data_, bytes), "cudaMalloc", bytes);
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, size_t bytes, size_t offset) {
  if (bytes == 0) return;
  check(cudaMemcpy(static_cast<char*>(data_) + offset, host, bytes, cudaMemcpyHostToDevice),
        "cudaMemcpy to the device", bytes);
}

void DeviceBuffer::download(void* host, size_t bytes, size_t offset) const {
  if (bytes == 0) return;
  check(cudaMemcpy(host, static_cast<const char*>(data_) + offset, bytes, cudaMemcpyDeviceToHost),
        "cudaMemcpy to the host", bytes);
}

DeviceTernaryMatrix::DeviceTernaryMatrix(const TernaryDeviceLayout& layout)
    : type(layout.type),
      k(layout.k),
      n(layout.n),
      blocks_per_row(layout.blocks_per_row),
      tensor_scale(layout.tensor_scale),
      codes(layout.codes.size()),
      block_scales(layout.block_scales.size() * sizeof(float)) {
  codes.upload(layout.codes.data(), layout.codes.size());
  block_scales.upload(layout.block_scales.data(), layout.block_scales.size() * sizeof(float));
}

void quantize_acts(kernels::ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                   DeviceActs& out, cudaStream_t stream) {
  if (rule == kernels::ActQuant::Q8K && k % kBlock != 0) {
    throw Error(ErrorCategory::model,
                "Q8_K activations need a row length that is a multiple of "
                "256, got " +
                    std::to_string(k));
  }
  out.rule = rule;
  out.k = k;
  out.n_tokens = n_tokens;
  const auto scales =
      static_cast<size_t>(rule == kernels::ActQuant::Q8K ? n_tokens * (k / kBlock) : n_tokens);
  ensure(out.q, static_cast<size_t>(n_tokens * k));
  ensure(out.scale, scales * sizeof(float));
  ensure(out.sum, scales * sizeof(int32_t));
  if (n_tokens == 0) return;
  if (rule == kernels::ActQuant::PerRowAbsmax) {
    quantize_absmax_kernel<<<static_cast<unsigned>(n_tokens), kQuantThreads, 0, stream>>>(
        x, k, out.q.as<int8_t>(), out.scale.as<float>(), out.sum.as<int32_t>());
  } else {
    quantize_q8k_kernel<<<static_cast<unsigned>(scales), kBlock, 0, stream>>>(
        x, out.q.as<int8_t>(), out.scale.as<float>(), out.sum.as<int32_t>());
  }
  check(cudaGetLastError(), "quantize_acts launch");
}

void ternary_matmul(const DeviceTernaryMatrix& w, const DeviceActs& a, kernels::SumOrder order,
                    float* y, cudaStream_t stream) {
  if (a.k != w.k) {
    throw Error(ErrorCategory::internal, "ternary_matmul: activations of " + std::to_string(a.k) +
                                             " values for a matrix of " + std::to_string(w.k) +
                                             " inputs");
  }
  if (a.n_tokens == 0 || w.n == 0) return;
  if (w.type == TensorType::I2_S) {
    launch_matmul<true, kernels::SumOrder::blocks>(w, a, y, stream);
  } else if (order == kernels::SumOrder::reference) {
    launch_matmul<false, kernels::SumOrder::reference>(w, a, y, stream);
  } else {
    launch_matmul<false, kernels::SumOrder::blocks>(w, a, y, stream);
  }
  check(cudaGetLastError(), "ternary_matmul launch");
}

BitLinearOnDevice bitlinear_on_device(const kernels::TernaryWeights& w, const float* x,
                                      int64_t n_tokens, kernels::SumOrder order) {
  const DeviceTernaryMatrix matrix(repack_for_device(w, "bitlinear_on_device"));
  DeviceBuffer x_dev(static_cast<size_t>(n_tokens * w.k) * sizeof(float));
  x_dev.upload(x, x_dev.size());
  DeviceActs acts;
  const kernels::ActQuant rule = kernels::act_quant_for(w.type);
  quantize_acts(rule, x_dev.as<float>(), n_tokens, w.k, acts, nullptr);
  DeviceBuffer y_dev(static_cast<size_t>(n_tokens * w.n) * sizeof(float));
  ternary_matmul(matrix, acts, order, y_dev.as<float>(), nullptr);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize after bitlinear");
  BitLinearOnDevice out;
  out.y.resize(static_cast<size_t>(n_tokens * w.n));
  out.q.resize(static_cast<size_t>(n_tokens * w.k));
  const size_t scales = rule == kernels::ActQuant::Q8K
                            ? static_cast<size_t>(n_tokens * (w.k / kBlock))
                            : static_cast<size_t>(n_tokens);
  out.scale.resize(scales);
  out.sums.resize(scales);
  y_dev.download(out.y.data(), out.y.size() * sizeof(float));
  acts.q.download(out.q.data(), out.q.size());
  acts.scale.download(out.scale.data(), scales * sizeof(float));
  acts.sum.download(out.sums.data(), scales * sizeof(int32_t));
  return out;
}

}  // namespace bitnet::cuda
