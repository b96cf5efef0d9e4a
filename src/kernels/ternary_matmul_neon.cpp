// The ARM baseline ternary matmul (ARMv8-A NEON: widening multiplies pairwise-added to SDOT's
// lanes); the algorithm is ternary_matmul_arm.hpp. Bit-identical to ternary_matmul_ref.
#include "kernels/ternary_matmul_arm.hpp"

namespace bitnet::kernels {

void ternary_matmul_neon(const TernaryWeights& w, const QuantizedActs& a, float* y,
                         int64_t row_begin, int64_t row_end) {
  arm::ternary_matmul_arm(w, a, y, row_begin, row_end);
}

}  // namespace bitnet::kernels
