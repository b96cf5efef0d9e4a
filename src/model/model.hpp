// A loaded model: the mapped GGUF file, its config and the weight views. Immutable after load and
// shared read-only by any number of Contexts (one per session or thread).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf.hpp"
#include "model/config.hpp"
#include "model/offload.hpp"
#include "model/weights.hpp"

namespace bitnet {

struct LoadOptions {
  std::function<void(float)> progress;  // fraction in [0, 1]; may be empty
  // Opt-in lower-precision output head: Q8_0 or Q6_K quantizes the head once at load
  // (ModelWeights::output_quantized) and the forward pass uses kernels::head_gemv: faster decode,
  // logits that differ from the reference's. nullopt: the head as stored (reference numerics).
  std::optional<TensorType> head_type;
  // Layers to run on a GPU (resolve_gpu_layers: -1 = all). Cut at load to what the build and
  // machine can run; the reason, if any, goes to stderr once.
  int n_gpu_layers = 0;
};

class Model {
 public:
  // Maps, validates and binds a GGUF model. Throws bitnet::Error (io, model) naming the file and
  // the offending key or tensor.
  static std::shared_ptr<const Model> load(const std::string& path,
                                           const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const gguf::GgufFile& file() const { return file_; }
  const OffloadPlan& offload() const { return offload_; }  // which layers run where

  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

 private:
  explicit Model(gguf::GgufFile file);
  // TEST ONLY (src/model/test_perturbation.cpp): BITNET_TEST_PERTURB=layer:N[:TENSOR] flips one
  // ternary weight so cross-validation tools can be shown to catch a wrong layer.
  void apply_test_perturbation(const std::string& spec);

  gguf::GgufFile file_;  // owns the mapping every weight view points into
  ModelConfig config_;
  ModelWeights weights_;
  OffloadPlan offload_;
  std::vector<uint8_t> test_perturbed_tensor_;  // TEST ONLY: the flipped copy of one tensor
};

}  // namespace bitnet
