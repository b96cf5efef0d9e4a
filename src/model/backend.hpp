// The device interface of the forward pass: each transformer layer runs on a LayerBackend. The CPU
// backend (forward_cpu.cpp) runs every layer today; a CUDA backend implements the same interface
// and takes the first n_gpu_layers. One virtual call per layer, never per element.
#pragma once

#include <cstdint>

#include "model/numerics.hpp"

namespace bitnet {

struct LayerBatch {
  int64_t n_tokens = 0;
  int64_t first_pos =
      0;  // KV position of row 0; the batch occupies first_pos..first_pos+n_tokens-1
  BatchNumerics numerics;
  float* residual =
      nullptr;  // [n_tokens][n_embd] host memory: the layer's input, replaced by its output
};

class LayerBackend {
 public:
  virtual ~LayerBackend() = default;
  // Runs one layer on the batch: appends the batch's K and V for that layer to the backend's KV
  // storage and updates the residual stream in place.
  virtual void forward_layer(int64_t layer, const LayerBatch& batch) = 0;
};

}  // namespace bitnet
