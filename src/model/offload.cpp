#include "model/offload.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "backends/cuda/device_query.hpp"

namespace bitnet {

std::optional<int> parse_gpu_layers_env(std::string_view text, std::string& warning) {
  warning.clear();
  if (text.empty()) return std::nullopt;
  long long value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range && stop == end) {
    return text.front() == '-' ? 0 : -1;  // a huge count is "all layers"; a huge negative one 0
  }
  if (ec != std::errc() || stop != end) {
    warning = "bitnet: warning: ignoring BITNET_GPU_LAYERS=\"" + std::string(text) +
              "\" (not a whole number; -1 = all layers)";
    return std::nullopt;
  }
  if (value < -1) return 0;
  return static_cast<int>(std::min<long long>(value, 1 << 30));
}

int resolve_gpu_layers(std::optional<int> explicit_layers) {
  if (explicit_layers) return *explicit_layers;
  const char* env = std::getenv("BITNET_GPU_LAYERS");
  if (env == nullptr) return 0;
  std::string warning;
  const auto value = parse_gpu_layers_env(env, warning);
  if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
  return value.value_or(0);
}

GpuInventory gpu_inventory() {
  const cuda::RuntimeProbe& probe = cuda::probe_runtime();
  GpuInventory gpus;
  gpus.backend_built = probe.built;
  gpus.runs_layers = false;  // see GpuInventory::runs_layers
  gpus.n_devices = static_cast<int>(probe.devices.size());
  gpus.unavailable = probe.error;
  if (!probe.devices.empty()) {
    const cuda::DeviceProperties& d = probe.devices.front();
    gpus.device_name = "cuda:" + std::to_string(d.index) + " (" + d.name + ")";
    gpus.free_bytes = d.free_bytes;
  }
  return gpus;
}

std::string OffloadPlan::describe() const {
  if (gpu_layers == 0) return "CPU only";
  return std::to_string(gpu_layers) + "/" + std::to_string(n_layer) + " layers on " + device;
}

OffloadPlan plan_offload(int requested, int n_layer, int64_t bytes_per_layer,
                         const GpuInventory& gpus) {
  OffloadPlan plan;
  plan.requested = requested;
  plan.n_layer = n_layer;
  const int wanted = requested < 0 ? (requested == -1 ? n_layer : 0) : std::min(requested, n_layer);
  if (wanted == 0) return plan;
  const std::string asked = "bitnet: n_gpu_layers = " + std::to_string(requested);
  const std::string on_cpu = "all " + std::to_string(n_layer) + " layers run on the CPU";
  if (!gpus.backend_built) {
    plan.fallback =
        asked + ", but this build has no CUDA backend (configure with -DBITNET_CUDA=ON): " + on_cpu;
    return plan;
  }
  if (gpus.n_devices <= 0) {
    const std::string why = gpus.unavailable.empty() ? "" : " (" + gpus.unavailable + ")";
    plan.fallback = asked + ", but no CUDA device is available" + why + ": " + on_cpu;
    return plan;
  }
  if (!gpus.runs_layers) {
    plan.fallback = asked +
                    ", but this build's CUDA backend has kernels and no layer loop yet "
                    "(found " +
                    gpus.device_name + "): " + on_cpu;
    return plan;
  }
  int fits = wanted;
  if (bytes_per_layer > 0) {
    fits = static_cast<int>(
        std::min<int64_t>(wanted, std::max<int64_t>(gpus.free_bytes, 0) / bytes_per_layer));
  }
  plan.gpu_layers = fits;
  plan.device = fits > 0 ? gpus.device_name : std::string();
  if (fits < wanted) {
    const int64_t mib = 1024 * 1024;
    plan.fallback = asked + ", but " + gpus.device_name + " has " +
                    std::to_string(gpus.free_bytes / mib) + " MiB free and a layer needs " +
                    std::to_string(bytes_per_layer / mib) + " MiB: " + std::to_string(fits) +
                    " layers on the GPU, " + std::to_string(n_layer - fits) + " on the CPU";
  }
  return plan;
}

}  // namespace bitnet
