// probe_runtime() of a build without the CUDA backend (device_query.cu is the other one).
#include "backends/cuda/device_query.hpp"

#if !BITNET_HAVE_CUDA
namespace bitnet::cuda {

const RuntimeProbe& probe_runtime() {
  static const RuntimeProbe not_built{};
  return not_built;
}

}  // namespace bitnet::cuda
#endif
