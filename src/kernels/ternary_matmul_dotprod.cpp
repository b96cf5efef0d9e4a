// The ARM dot-product ternary matmul: ternary_matmul_arm.hpp compiled with +dotprod, so its integer
// dots are SDOT. Bit-identical to ternary_matmul_ref.
#include "kernels/ternary_matmul_arm.hpp"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "ternary_matmul_dotprod.cpp must be compiled with +dotprod (cmake/BitnetWarnings.cmake)"
#endif

namespace bitnet::kernels {

void ternary_matmul_dotprod(const TernaryWeights& w, const QuantizedActs& a, float* y,
                            int64_t row_begin, int64_t row_end) {
  arm::ternary_matmul_arm(w, a, y, row_begin, row_end);
}

}  // namespace bitnet::kernels
