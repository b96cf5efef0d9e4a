// Which layers run on a GPU, in llama.cpp's terms: n_gpu_layers = 0 runs everything on the CPU, N
// the first N layers on the GPU, -1 all of them. The request comes from an explicit setting, else
// BITNET_GPU_LAYERS, else 0; the plan then cuts it to what the build and the machine can run and
// says why. Nothing here fails: a GPU that is missing or too small means more layers on the CPU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bitnet {

// BITNET_GPU_LAYERS's value by the seed's rules: nullopt when unset or empty, or when it is not a
// whole number (then `warning` says so); negative other than -1 reads as 0; -1 and any count pass.
std::optional<int> parse_gpu_layers_env(std::string_view text, std::string& warning);

// An explicit request beats BITNET_GPU_LAYERS, which beats 0. An ignored environment value is
// reported on stderr.
int resolve_gpu_layers(std::optional<int> explicit_layers);

// What this build and machine offer; tests describe other machines with their own values.
struct GpuInventory {
  bool backend_built = false;  // compiled with the CUDA backend
  // The backend can run transformer layers. Its kernels exist, but the layer loop that chains them
  // (src/backends/cuda) is not written yet, so a built backend still runs every layer on the CPU.
  bool runs_layers = false;
  int n_devices = 0;        // CUDA devices the runtime can use
  std::string unavailable;  // why n_devices is 0, from the runtime ("cudaErrorNoDevice: ...")
  std::string device_name;  // of device 0, e.g. "cuda:0 (NVIDIA H200)"
  int64_t free_bytes = 0;   // device memory free for weights, KV and activations
};

// This build and machine, from the CUDA runtime (backends/cuda/device_query.hpp).
GpuInventory gpu_inventory();

struct OffloadPlan {
  int requested = 0;  // the resolved request (-1 = all)
  int n_layer = 0;
  int gpu_layers = 0;  // layers 0..gpu_layers-1 run on `device`, the rest on the CPU
  std::string device;  // empty when every layer runs on the CPU
  // Why fewer layers than requested run on the GPU, as one stderr line; empty when as requested.
  std::string fallback;

  std::string describe() const;  // "CPU only", "12/30 layers on cuda:0"
};

// `bytes_per_layer`: device memory one offloaded layer needs (weights and its KV share).
OffloadPlan plan_offload(int requested, int n_layer, int64_t bytes_per_layer,
                         const GpuInventory& gpus);

}  // namespace bitnet
