// probe_runtime() over the CUDA runtime API.
#include <cuda_runtime.h>

#include <string>

#include "backends/cuda/device_query.hpp"

namespace bitnet::cuda {
namespace {

std::string describe(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

RuntimeProbe run_probe() {
  RuntimeProbe probe;
  probe.built = true;
  cudaRuntimeGetVersion(&probe.runtime_version);
  if (cudaDriverGetVersion(&probe.driver_version) != cudaSuccess) probe.driver_version = 0;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    probe.error = describe(status);
    if (status == cudaErrorInsufficientDriver && probe.driver_version > 0) {
      probe.error += " (the driver supports CUDA " + std::to_string(probe.driver_version / 1000) +
                     "." + std::to_string(probe.driver_version % 1000 / 10) +
                     ", this build needs " + std::to_string(probe.runtime_version / 1000) + "." +
                     std::to_string(probe.runtime_version % 1000 / 10) + ")";
    }
    cudaGetLastError();  // the probe's failure is not an error for later calls
    return probe;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (const cudaError_t e = cudaGetDeviceProperties(&prop, i); e != cudaSuccess) {
      probe.error = "device " + std::to_string(i) + ": " + describe(e);
      continue;
    }
    DeviceProperties d;
    d.index = i;
    d.name = prop.name;
    d.total_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    d.compute_major = prop.major;
    d.compute_minor = prop.minor;
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
      d.free_bytes = static_cast<int64_t>(free_bytes);
    cudaGetLastError();
    probe.devices.push_back(d);
  }
  if (count == 0) probe.error = "the CUDA runtime reports no device";
  return probe;
}

}  // namespace

const RuntimeProbe& probe_runtime() {
  static const RuntimeProbe probe = run_probe();
  return probe;
}

}  // namespace bitnet::cuda
