#include "capi/sampler_c.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "bitnet/error.hpp"

namespace bitnet::capi {

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

CSampler::CSampler(const SamplerSettings& settings) : settings_(settings), rng_(settings.seed) {
  if (!(settings.temperature >= 0.0f) || !std::isfinite(settings.temperature))
    throw Error(ErrorCategory::config,
                "sampler: temperature must be >= 0, got " + std::to_string(settings.temperature));
  if (settings.top_k < 0)
    throw Error(ErrorCategory::config,
                "sampler: top_k must be >= 0, got " + std::to_string(settings.top_k));
  if (!(settings.top_p > 0.0f && settings.top_p <= 1.0f))
    throw Error(ErrorCategory::config,
                "sampler: top_p must be in (0, 1], got " + std::to_string(settings.top_p));
}

int32_t CSampler::sample(std::span<const float> logits) {
  if (logits.empty()) throw Error(ErrorCategory::config, "sampler: no logits");
  if (settings_.temperature == 0.0f) return argmax(logits);

  candidates_.clear();
  for (size_t i = 0; i < logits.size(); ++i)
    candidates_.push_back({logits[i], static_cast<int32_t>(i)});
  const auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  size_t keep = candidates_.size();
  if (settings_.top_k > 0) keep = std::min(keep, static_cast<size_t>(settings_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep),
                    candidates_.end(), by_logit);
  candidates_.resize(keep);

  // top-p on the untempered distribution (as llama.cpp's chain does), then temperature.
  if (settings_.top_p < 1.0f) {
    double total = 0;
    weights_.resize(keep);
    for (size_t i = 0; i < keep; ++i) {
      weights_[i] = std::exp(static_cast<double>(candidates_[i].logit) - candidates_[0].logit);
      total += weights_[i];
    }
    double cumulative = 0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += weights_[i] / total;
      if (cumulative >= settings_.top_p) {
        cut = i + 1;
        break;
      }
    }
    candidates_.resize(cut);
  }

  weights_.resize(candidates_.size());
  double total = 0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    weights_[i] = std::exp((static_cast<double>(candidates_[i].logit) - candidates_[0].logit) /
                           settings_.temperature);
    total += weights_[i];
  }
  // 53 random bits from two 32-bit draws: the same seed gives the same token with any stdlib.
  const uint64_t hi = rng_() >> 5, lo = rng_() >> 6;
  const double u =
      (static_cast<double>(hi) * 67108864.0 + static_cast<double>(lo)) / 9007199254740992.0;
  double target = u * total;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    target -= weights_[i];
    if (target < 0) return candidates_[i].id;
  }
  return candidates_.back().id;
}

}  // namespace bitnet::capi
