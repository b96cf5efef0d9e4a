#include "gpu_layers_option.hpp"

#include <CLI/CLI.hpp>

namespace bitnet::tools {

void add_gpu_layers_option(CLI::App& cmd, std::optional<int>& layers) {
  cmd.add_option_function<int>(
         "--n-gpu-layers,--gpu-layers", [&layers](const int& n) { layers = n; },
         "-ngl: layers on the GPU (-1 = all; default: BITNET_GPU_LAYERS, else 0). What cannot be "
         "offloaded runs on the CPU, said once on stderr")
      ->check(CLI::Range(-1, 1 << 30));
}

}  // namespace bitnet::tools
