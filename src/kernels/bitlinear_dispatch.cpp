// Kernel selection for BitLinear: the ISA chosen once per process (cpu_features.hpp), the work
// split statically over OpenMP threads in whole row tiles. Every output element is computed by one
// thread in a fixed order, so results do not depend on the thread count.
#include <algorithm>

#include "kernels/bitlinear.hpp"
#include "kernels/ternary_kernels.hpp"

namespace bitnet::kernels {

const KernelSet& kernel_set(Isa isa) {
  static const KernelSet scalar{Isa::scalar, quantize_acts_ref, ternary_matmul_ref};
  static const KernelSet avx2{Isa::avx2, quantize_acts_avx2, ternary_matmul_avx2};
  static const KernelSet avx512{Isa::avx512, quantize_acts_avx512, ternary_matmul_avx512};
  switch (isa) {
    case Isa::avx2:
      return avx2;
    case Isa::avx512:
      return avx512;
    case Isa::scalar:
      break;
  }
  return scalar;
}

// The native layouts of I2_S and TQ2_0/TQ1_0 are decoded on the fly, so nothing is repacked and the
// weights stay in the mapping (no second copy, instant load).
void prepare_for_kernels(TernaryWeights& /*w*/) {}

void bitlinear(const TernaryWeights& w, const float* x, int64_t n_tokens, float* y,
               QuantizedActs& scratch, int n_threads) {
  bitlinear_with(kernel_set(selected_isa()), w, x, n_tokens, y, scratch, n_threads);
}

void bitlinear_with(const KernelSet& kernels, const TernaryWeights& w, const float* x,
                    int64_t n_tokens, float* y, QuantizedActs& scratch, int n_threads) {
  kernels.quantize_acts(act_quant_for(w.type), x, n_tokens, w.k, scratch);
  const int64_t tiles = (w.n + kRowTile - 1) / kRowTile;
  const int threads =
      static_cast<int>(std::clamp<int64_t>(n_threads, 1, std::max<int64_t>(tiles, 1)));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = std::min(w.n, tiles * t / threads * kRowTile);
    const int64_t end = std::min(w.n, tiles * (t + 1) / threads * kRowTile);
    if (begin < end) kernels.matmul(w, scratch, y, begin, end);
  }
}

}  // namespace bitnet::kernels
