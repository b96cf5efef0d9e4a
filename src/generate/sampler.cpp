#include "generate/sampler.hpp"

#include <algorithm>
#include <cmath>

#include "common/debug_env.hpp"

namespace bitnet::generate {
namespace {

// A random seed request takes BITNET_SEED, then BITNET_DETERMINISTIC's fixed seed, then a draw.
uint32_t resolve_seed(uint32_t seed) {
  if (seed != kRandomSeed) return seed;
  if (const auto env = debug_env::seed()) return *env;
  if (debug_env::deterministic()) return debug_env::kDeterministicSeed;
  std::random_device device;
  return static_cast<uint32_t>(device());
}

}  // namespace

TokenId argmax(std::span<const float> logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<TokenId>(best);
}

Sampler::Sampler(const GenerationConfig& config)
    : config_(config), seed_(resolve_seed(config.seed)), rng_(seed_) {
  config_.validate();
}

double Sampler::uniform() {
  const uint64_t high = rng_() >> 5;  // 27 bits
  const uint64_t low = rng_() >> 6;   // 26 bits
  return static_cast<double>((high << 26) | low) * 0x1.0p-53;
}

TokenId Sampler::sample(std::span<const float> logits, std::span<const TokenId> history) {
  const bool penalize = (config_.repeat_penalty != 1.0f || config_.frequency_penalty != 0.0f ||
                         config_.presence_penalty != 0.0f) &&
                        config_.repeat_last_n != 0;
  if (config_.temperature == 0.0f && !penalize) return argmax(logits);

  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates_[i] = {logits[i], static_cast<TokenId>(i)};
  if (penalize) apply_repeat_penalty(history);

  if (config_.temperature == 0.0f) {
    // The top candidate survives every filter, so greedy only needs the penalized arg-max.
    size_t best = 0;
    for (size_t i = 1; i < candidates_.size(); ++i) {
      if (candidates_[i].logit > candidates_[best].logit) best = i;
    }
    return candidates_[best].id;
  }
  keep_top_k();
  keep_top_p_min_p();
  return draw();
}

// llama.cpp's penalties sampler: once per distinct token of the window, a positive logit is
// divided by the repeat penalty and a negative one multiplied, then the OpenAI penalties subtract
// count * frequency_penalty + presence_penalty. Candidates are still in id order here.
void Sampler::apply_repeat_penalty(std::span<const TokenId> history) {
  size_t window = history.size();
  if (config_.repeat_last_n > 0)
    window = std::min(window, static_cast<size_t>(config_.repeat_last_n));
  penalized_.assign(history.end() - static_cast<std::ptrdiff_t>(window), history.end());
  std::sort(penalized_.begin(), penalized_.end());
  for (size_t i = 0; i < penalized_.size();) {
    const TokenId id = penalized_[i];
    size_t count = 0;
    while (i < penalized_.size() && penalized_[i] == id) ++count, ++i;
    if (id < 0 || static_cast<size_t>(id) >= candidates_.size()) continue;
    float& logit = candidates_[static_cast<size_t>(id)].logit;
    logit = logit <= 0.0f ? logit * config_.repeat_penalty : logit / config_.repeat_penalty;
    logit -= static_cast<float>(count) * config_.frequency_penalty + config_.presence_penalty;
  }
}

namespace {
// Higher logit first; the lower id first on ties, so every order is fully determined.
constexpr auto kByLogit = [](const auto& a, const auto& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
};
}  // namespace

void Sampler::keep_top_k() {
  const auto k = static_cast<size_t>(config_.top_k);
  if (k == 0 || k >= candidates_.size()) return;
  std::nth_element(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   candidates_.end(), kByLogit);
  candidates_.resize(k);
}

// top-p keeps the smallest prefix of the sorted candidates whose probability (at temperature 1)
// reaches top_p; min-p then keeps those with p >= min_p * p_max. As min-p is relative to the top
// probability, it can be applied first without changing the result, which spares sorting the long
// tail of the vocabulary.
void Sampler::keep_top_p_min_p() {
  if (config_.top_p >= 1.0f && config_.min_p <= 0.0f) return;
  float max_logit = candidates_.front().logit;
  for (const auto& c : candidates_) max_logit = std::max(max_logit, c.logit);
  double total = 0.0;
  for (const auto& c : candidates_) total += std::exp(static_cast<double>(c.logit - max_logit));

  if (config_.min_p > 0.0f) {
    const float threshold = max_logit + std::log(config_.min_p);
    const auto end = std::remove_if(candidates_.begin(), candidates_.end(),
                                    [&](const Candidate& c) { return c.logit < threshold; });
    candidates_.erase(end, candidates_.end());
  }
  if (config_.top_p >= 1.0f) return;
  std::sort(candidates_.begin(), candidates_.end(), kByLogit);
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += std::exp(static_cast<double>(candidates_[i].logit - max_logit)) / total;
    if (cumulative >= config_.top_p) {
      candidates_.resize(i + 1);
      return;
    }
  }
}

TokenId Sampler::draw() {
  // The draw walks the candidates in id order (nth_element leaves an order that depends on the
  // standard library), so a seed maps to the same token everywhere.
  if (!std::is_sorted(candidates_.begin(), candidates_.end(),
                      [](const Candidate& a, const Candidate& b) { return a.id < b.id; })) {
    std::sort(candidates_.begin(), candidates_.end(),
              [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  }
  const double inv_temp = 1.0 / static_cast<double>(config_.temperature);
  float max_logit = candidates_.front().logit;
  for (const auto& c : candidates_) max_logit = std::max(max_logit, c.logit);
  weights_.resize(candidates_.size());
  double total = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    const double w = std::exp(static_cast<double>(candidates_[i].logit - max_logit) * inv_temp);
    weights_[i] = w;
    total += w;
  }
  const double target = uniform() * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += weights_[i];
    if (target < cumulative) return candidates_[i].id;
  }
  return candidates_.back().id;
}

}  // namespace bitnet::generate
