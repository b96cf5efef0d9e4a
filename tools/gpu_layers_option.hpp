// -ngl/--n-gpu-layers (llama.cpp's names) for `bitnet run`, `chat`, `bench`, `eval` and `serve`:
// how many layers run on a GPU. The flag, when given, beats BITNET_GPU_LAYERS, which beats 0
// (resolve_gpu_layers in model/offload.hpp).
#pragma once

#include <optional>

namespace CLI {
class App;
}

namespace bitnet::tools {

// `layers` is set only when the flag is given.
void add_gpu_layers_option(CLI::App& cmd, std::optional<int>& layers);

}  // namespace bitnet::tools
