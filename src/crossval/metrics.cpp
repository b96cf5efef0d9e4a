#include "crossval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "bitnet/error.hpp"

namespace bitnet::crossval {
namespace {

// log(sum(exp(x))) in double, stable for large logits.
double log_sum_exp(std::span<const float> x) {
  double m = -std::numeric_limits<double>::infinity();
  for (float v : x) m = std::max(m, static_cast<double>(v));
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (float v : x) s += std::exp(static_cast<double>(v) - m);
  return m + std::log(s);
}

}  // namespace

int32_t argmax(std::span<const float> row) {
  if (row.empty()) return -1;
  int32_t best = 0;
  for (size_t i = 1; i < row.size(); ++i) {
    if (row[i] > row[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best;
}

std::vector<int32_t> top_k(std::span<const float> row, int k) {
  const auto n = std::min<size_t>(row.size(), static_cast<size_t>(std::max(k, 0)));
  std::vector<int32_t> idx(row.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(),
                    [&](int32_t x, int32_t y) {
                      const float vx = row[static_cast<size_t>(x)];
                      const float vy = row[static_cast<size_t>(y)];
                      return vx > vy || (vx == vy && x < y);
                    });
  idx.resize(n);
  return idx;
}

PositionMetrics compare_rows(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size() || a.empty()) {
    throw Error(ErrorCategory::internal, "compare_rows: rows of " + std::to_string(a.size()) +
                                             " and " + std::to_string(b.size()) + " values");
  }
  PositionMetrics m;
  double dot = 0, na = 0, nb = 0, d2 = 0, max_abs = 0;
  bool nan = false;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    nan = nan || std::isnan(x) || std::isnan(y);
    dot += x * y;
    na += x * x;
    nb += y * y;
    const double d = x - y;
    d2 += d * d;
    max_abs = std::max(max_abs, std::fabs(d));
  }
  if (nan) {
    m.cosine = m.l2 = m.max_abs_diff = m.kl = std::numeric_limits<double>::quiet_NaN();
  } else {
    if (na == 0 || nb == 0) {
      m.cosine = (na == 0 && nb == 0) ? 1.0 : 0.0;
    } else {
      m.cosine = dot / (std::sqrt(na) * std::sqrt(nb));
    }
    m.l2 = std::sqrt(d2);
    m.max_abs_diff = max_abs;
    const double lse_a = log_sum_exp(a), lse_b = log_sum_exp(b);
    double kl = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const double log_p = static_cast<double>(b[i]) - lse_b;
      const double log_q = static_cast<double>(a[i]) - lse_a;
      const double p = std::exp(log_p);
      if (p > 0) kl += p * (log_p - log_q);
    }
    m.kl = std::max(kl, 0.0);  // rounding can leave a tiny negative for identical rows
  }
  m.argmax_a = argmax(a);
  m.argmax_b = argmax(b);
  const auto ta = top_k(a, 5), tb = top_k(b, 5);
  for (int32_t x : ta) m.top5_overlap += static_cast<int>(std::count(tb.begin(), tb.end(), x));
  for (int32_t x : ta) m.top5_a.push_back({x, a[static_cast<size_t>(x)]});
  for (int32_t x : tb) m.top5_b.push_back({x, b[static_cast<size_t>(x)]});
  return m;
}

}  // namespace bitnet::crossval
