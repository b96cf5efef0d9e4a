#include "kernels/kv_q8_0.hpp"

#include "common/fp16.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet::kernels {

float kv_q8_0_dot_ref(const BlockQ8_0* k, const float* x, int64_t n) {
  float acc[16] = {};
  for (int64_t b = 0; b < n / 32; ++b) {
    const float d = fp16_to_fp32(k[b].d);
    const float* xb = x + 32 * b;
    for (int l = 0; l < 16; ++l) {
      const float s =
          xb[l] * static_cast<float>(k[b].qs[l]) + xb[16 + l] * static_cast<float>(k[b].qs[16 + l]);
      acc[l] = acc[l] + d * s;
    }
  }
  return reduce_add16(acc);
}

void kv_q8_0_axpy_ref(const BlockQ8_0* v, float w, float* acc, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float wd = w * fp16_to_fp32(v[b].d);
    for (int i = 0; i < 32; ++i) {
      acc[32 * b + i] = acc[32 * b + i] + wd * static_cast<float>(v[b].qs[i]);
    }
  }
}

KvQ8Kernels kv_q8_kernels_for(Isa isa) {
  switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case Isa::avx2:
      return {kv_q8_0_dot_avx2, kv_q8_0_axpy_avx2};
    case Isa::avx512:
      return {kv_q8_0_dot_avx512, kv_q8_0_axpy_avx512};
#elif defined(__aarch64__)
    case Isa::neon:
    case Isa::dotprod:
      return {kv_q8_0_dot_neon, kv_q8_0_axpy_neon};
#endif
    default:
      return {};
  }
}

const KvQ8Kernels& kv_q8_kernels() {
  static const KvQ8Kernels selected = [] {
    KvQ8Kernels k = kv_q8_kernels_for(selected_isa());
    if (k.dot == nullptr) k = {kv_q8_0_dot_ref, kv_q8_0_axpy_ref};
    return k;
  }();
  return selected;
}

}  // namespace bitnet::kernels
