#include <cuda_runtime.h>

#include <string>

#include "backends/cuda/layer_ops.hpp"
#include "bitnet/error.hpp"

namespace bitnet::cuda {
namespace {

constexpr int kNormThreads = 256;
constexpr int kElementThreads = 256;

void check_launch(const char* what) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw Error(ErrorCategory::device, std::string("CUDA: ") + what +
                                           " launch: " + cudaGetErrorName(status) + ": " +
                                           cudaGetErrorString(status));
  }
}

unsigned grid_for(int64_t count) {
  return static_cast<unsigned>((count + kElementThreads - 1) / kElementThreads);
}

__global__ void rms_norm_kernel(const float* x, const float* w, int64_t n, float eps, float* y) {
  __shared__ double part[kNormThreads];
  const float* row = x + blockIdx.x * n;
  float* out = y + blockIdx.x * n;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float square = row[i] * row[i];
    sum += static_cast<double>(square);
  }
  part[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) part[threadIdx.x] += part[threadIdx.x + stride];
    __syncthreads();
  }
  const auto mean = static_cast<float>(part[0] / static_cast<double>(n));
  const float scale = 1.0f / sqrtf(mean + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) out[i] = (row[i] * scale) * w[i];
}

// ggml's expf is a polynomial (kernels::ggml_expf); the device's expf differs in the last bits,
// which the SiLU of the llama arch tolerates (its parity target is a cosine, not bits).
__global__ void gated_kernel(Gate gate_kind, float* gate, const float* up, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float g = gate[i];
  float act = 0.0f;
  if (gate_kind == Gate::relu2) {
    const float r = g > 0.0f ? g : 0.0f;
    act = r * r;
  } else {
    act = g / (1.0f + expf(-g));
  }
  gate[i] = act * up[i];
}

__global__ void add_kernel(float* residual, const float* delta, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) residual[i] += delta[i];
}

}  // namespace

void rms_norm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y,
              cudaStream_t stream) {
  if (rows == 0) return;
  rms_norm_kernel<<<static_cast<unsigned>(rows), kNormThreads, 0, stream>>>(x, w, n, eps, y);
  check_launch("rms_norm");
}

void gated_activation(Gate gate_kind, float* gate, const float* up, int64_t count,
                      cudaStream_t stream) {
  if (count == 0) return;
  gated_kernel<<<grid_for(count), kElementThreads, 0, stream>>>(gate_kind, gate, up, count);
  check_launch("gated_activation");
}

void add_in_place(float* residual, const float* delta, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  add_kernel<<<grid_for(count), kElementThreads, 0, stream>>>(residual, delta, count);
  check_launch("add_in_place");
}

}  // namespace bitnet::cuda
