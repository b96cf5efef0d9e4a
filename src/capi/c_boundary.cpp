#include "capi/c_boundary.hpp"

#include <optional>

#include "model/offload.hpp"

namespace bitnet::capi {

int32_t resolve_gpu_layers(int32_t explicit_layers) noexcept {
  try {
    return bitnet::resolve_gpu_layers(explicit_layers != 0 ? std::optional<int>(explicit_layers)
                                                           : std::nullopt);
  } catch (...) {
    return explicit_layers;  // only the warning's formatting can throw (out of memory)
  }
}

}  // namespace bitnet::capi
