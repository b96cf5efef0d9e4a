// The sampler behind bitnet_sampler_* (bitnet.h): top-k, top-p, temperature and a seeded draw.
// Minimal on purpose: the generation module's sampler (repetition penalty, min-p) was not on main
// when the C API was written; switch to it once it lands.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace bitnet::capi {

struct SamplerSettings {
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  uint32_t seed = 42;
};

class CSampler {
 public:
  // Throws bitnet::Error (config) naming the bad field.
  explicit CSampler(const SamplerSettings& settings);
  int32_t sample(std::span<const float> logits);

 private:
  struct Candidate {
    float logit;
    int32_t id;
  };
  SamplerSettings settings_;
  std::mt19937 rng_;
  std::vector<Candidate> candidates_;
  std::vector<double> weights_;
};

// Index of the largest logit, the first on ties.
int32_t argmax(std::span<const float> logits);

}  // namespace bitnet::capi
