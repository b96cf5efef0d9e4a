// What the CUDA runtime reports about this machine: the devices it can use, their memory and
// compute capability, or why there are none (no driver, a driver older than the runtime). Plain
// C++ so every build can ask; the answer of a build without the backend is "not built".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bitnet::cuda {

struct DeviceProperties {
  int index = 0;
  std::string name;  // "NVIDIA H200"
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;  // at the time of the probe
  int compute_major = 0;   // compute capability, e.g. 9.0
  int compute_minor = 0;
};

struct RuntimeProbe {
  bool built = false;       // this library has the CUDA backend
  int runtime_version = 0;  // e.g. 13000 for 13.0; 0 when not built
  int driver_version = 0;   // the newest CUDA the installed driver supports; 0 without a driver
  std::string error;        // why `devices` is empty, e.g. "cudaErrorInsufficientDriver: ..."
  std::vector<DeviceProperties> devices;
};

// Asks the runtime once per process (the answer is cached: creating a CUDA context takes time) and
// never throws; a failing runtime is described in `error`.
const RuntimeProbe& probe_runtime();

}  // namespace bitnet::cuda
