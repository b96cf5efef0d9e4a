// The device interface of the forward pass: each transformer layer runs on a LayerBackend. The CPU
// backend (forward_cpu.cpp) runs every layer today; a CUDA backend implements the same interface
// and takes the first n_gpu_layers. One virtual call per layer, never per element.
#pragma once

#include <cstdint>

#include "model/numerics.hpp"

namespace bitnet {

// The tokens of one forward pass. Row t is token t of sequence seq[t] at KV position pos[t]; the
// rows of one sequence are consecutive positions following that sequence's cached ones, so
// attention (per sequence) sees them causally once every row's K and V are stored.
struct LayerBatch {
  int64_t n_tokens = 0;
  // KV position of row 0 (what the stage observer reports; in a single-sequence batch the rows
  // occupy first_pos..first_pos+n_tokens-1).
  int64_t first_pos = 0;
  const int32_t* seq = nullptr;      // [n_tokens] sequence of each row
  const int32_t* pos = nullptr;      // [n_tokens] KV position of each row
  const int64_t* seq_end = nullptr;  // [n_seq] 1 + the last position of each sequence in the batch
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
