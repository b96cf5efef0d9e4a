// Kernel selection for BitLinear. For now only the scalar oracle exists.
#include <algorithm>

#include "kernels/bitlinear.hpp"

namespace bitnet::kernels {

void prepare_for_kernels(TernaryWeights& /*w*/) {}

void bitlinear(const TernaryWeights& w, const float* x, int64_t n_tokens, float* y, QuantizedActs& scratch,
               int n_threads) {
  quantize_acts_ref(act_quant_for(w.type), x, n_tokens, w.k, scratch);
  const int threads = std::max(1, n_threads);
  const int64_t chunk = (w.n + threads - 1) / threads;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = std::min<int64_t>(w.n, t * chunk);
    const int64_t end = std::min<int64_t>(w.n, begin + chunk);
    if (begin < end) ternary_matmul_ref(w, scratch, y, begin, end);
  }
}

}  // namespace bitnet::kernels
