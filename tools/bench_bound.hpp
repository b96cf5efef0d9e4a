// The memory-bandwidth bound of a decode (tg) test, printed by `bitnet bench` beside its speed:
// one token reads the weights it streams and the KV cache rows it attends to, so at best it takes
// those bytes over the machine's read bandwidth (measured here, with the test's thread count).
#pragma once

#include <cstdint>

#include "model/kv_cache.hpp"
#include "model/model.hpp"

namespace bitnet::tools {

// Bytes of weights one decode step reads: every tensor of the file, but the token embedding when
// the head is a separate tensor (a step reads one row of it), and the quantized head in place of
// the stored one when --head-type made one.
double decode_weight_bytes(const Model& model);

// Bytes of K and V (all layers) that one attended position costs.
double kv_bytes_per_position(const ModelConfig& config, KvType k, KvType v);

struct DecodeBound {
  double weight_bytes = 0;  // per token
  double kv_bytes = 0;      // per token, averaged over the test's positions
  double read_gbs = 0;      // measured read bandwidth, GB/s
  double tokens_per_second() const { return read_gbs * 1e9 / (weight_bytes + kv_bytes); }
};

// The bound of a tg test of n_gen tokens after n_depth cached ones: the token at position p
// attends to p + 1 positions.
DecodeBound decode_bound(const Model& model, KvType k, KvType v, int n_depth, int n_gen,
                         double read_gbs);

// Read bandwidth in GB/s with `threads` OpenMP threads: the median of 5 passes summing a 512 MiB
// buffer (larger than any last-level cache here), which is allocated, touched and freed per call.
double measure_read_bandwidth(int threads);

}  // namespace bitnet::tools
