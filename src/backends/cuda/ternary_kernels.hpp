// The CUDA kernels of a BitLinear layer, callable from plain C++ (the layer loop, the tests):
// int8 activation quantization by each reference's rule and the ternary matmul (decode GEMV and
// prefill GEMM in one kernel, one warp per four rows, one thread per ggml lane), over weights
// uploaded once in the device layout (ternary_layout.hpp). Integer sums and their float rescale
// are those of kernels::quantize_acts_ref and kernels::ternary_matmul_ref, bit for bit.
// Only in builds with the CUDA backend (BITNET_HAVE_CUDA); every function throws Error(device)
// with the failing call when the runtime fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/cuda/ternary_layout.hpp"
#include "kernels/bitlinear.hpp"

struct CUstream_st;
using cudaStream_t = CUstream_st*;  // as cuda_runtime_api.h declares it

namespace bitnet::cuda {

// Device memory, freed with its owner.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return bytes_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  void upload(const void* host, size_t bytes, size_t offset = 0);
  void download(void* host, size_t bytes, size_t offset = 0) const;

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// A ternary matrix in device memory (uploaded once, at load).
struct DeviceTernaryMatrix {
  explicit DeviceTernaryMatrix(const TernaryDeviceLayout& layout);
  TensorType type;
  int64_t k, n, blocks_per_row;
  float tensor_scale;
  DeviceBuffer codes;         // [n][blocks][64]
  DeviceBuffer block_scales;  // TQ: [n][blocks] float
};

// Quantized activations in device memory; buffers grow on demand and are reused.
struct DeviceActs {
  kernels::ActQuant rule = kernels::ActQuant::PerRowAbsmax;
  int64_t k = 0;
  int64_t n_tokens = 0;
  DeviceBuffer q;      // [n_tokens][k] int8
  DeviceBuffer scale;  // PerRowAbsmax: [n_tokens] (s); Q8K: [n_tokens][k/256] (d)
  DeviceBuffer sum;    // PerRowAbsmax: [n_tokens] int32 sum of q; Q8K: [n_tokens][k/256] bsums
};

// x: device [n_tokens][k] floats. Q8K needs k % 256 == 0 (Error(model) otherwise).
void quantize_acts(kernels::ActQuant rule, const float* x, int64_t n_tokens, int64_t k,
                   DeviceActs& out, cudaStream_t stream);

// y: device [n_tokens][w.n] floats, every row of w for every token of a.
void ternary_matmul(const DeviceTernaryMatrix& w, const DeviceActs& a, kernels::SumOrder order,
                    float* y, cudaStream_t stream);

// For tests and tools: uploads w and x, runs the two kernels above, and copies the results back.
struct BitLinearOnDevice {
  std::vector<float> y;       // [n_tokens][w.n]
  std::vector<int8_t> q;      // the quantized activations
  std::vector<float> scale;   // their scales
  std::vector<int32_t> sums;  // qsum (PerRowAbsmax) or bsums (Q8K)
};
BitLinearOnDevice bitlinear_on_device(const kernels::TernaryWeights& w, const float* x,
                                      int64_t n_tokens, kernels::SumOrder order);

}  // namespace bitnet::cuda
