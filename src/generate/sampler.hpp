// Picks the next token from a row of logits: repetition penalty, top-k, top-p, min-p, temperature,
// then a seeded draw (or arg-max when the temperature is 0). The order and the meaning of each step
// follow llama.cpp's default sampler chain; the draw is our own so that a seed gives the same token
// with any standard library. One Sampler per generation; it keeps its buffers, so sampling
// allocates nothing after the first token.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "bitnet/generation.hpp"

namespace bitnet::generate {

using TokenId = int32_t;

// Index of the largest value, the first one on ties (as the reference's greedy decoding does).
TokenId argmax(std::span<const float> logits);

class Sampler {
 public:
  // Validates the config. A seed of kRandomSeed draws one from std::random_device (see seed()).
  explicit Sampler(const GenerationConfig& config);

  // The next token. `history` is the sequence so far (prompt and generated tokens); the last
  // repeat_last_n of them are penalized.
  TokenId sample(std::span<const float> logits, std::span<const TokenId> history);

  uint32_t seed() const { return seed_; }
  // A uniform double in [0, 1) with 53 random bits from two 32-bit outputs of std::mt19937.
  double uniform();

 private:
  struct Candidate {
    float logit;
    TokenId id;
  };
  void apply_repeat_penalty(std::span<const TokenId> history);
  void keep_top_k();
  void keep_top_p_min_p();
  TokenId draw();

  GenerationConfig config_;
  uint32_t seed_;
  std::mt19937 rng_;
  std::vector<Candidate> candidates_;  // the surviving tokens of this step
  std::vector<TokenId> penalized_;     // distinct tokens of the penalty window
  std::vector<double> weights_;        // unnormalized probabilities of the draw
};

}  // namespace bitnet::generate
