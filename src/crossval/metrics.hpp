// How two logit rows for the same position compare. All sums are in double so the metrics do not
// add float noise of their own to the differences they measure.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace bitnet::crossval {

struct TopLogit {
  int32_t id = 0;
  float logit = 0;
};

struct PositionMetrics {
  double cosine = 0;        // a.b / (|a| |b|); 1 when both rows are all zeros, 0 when one is
  double l2 = 0;            // |a - b|
  double max_abs_diff = 0;  // max_i |a_i - b_i|
  double kl = 0;            // KL(softmax(b) || softmax(a)): side B is the reference
  int32_t argmax_a = -1;
  int32_t argmax_b = -1;
  int top5_overlap = 0;          // |top5(a) ∩ top5(b)|, 0..5
  std::vector<TopLogit> top5_a;  // largest first (fewer when the row is shorter)
  std::vector<TopLogit> top5_b;
};

// Index of the largest value; the first one wins a tie (as greedy sampling in the references).
int32_t argmax(std::span<const float> row);

// Indices of the k largest values, largest first (ties: lower index first).
std::vector<int32_t> top_k(std::span<const float> row, int k);

// a and b must have the same length. NaN in either row gives a NaN cosine (never "within
// tolerance": callers test !(cosine >= tol)).
PositionMetrics compare_rows(std::span<const float> a, std::span<const float> b);

}  // namespace bitnet::crossval
