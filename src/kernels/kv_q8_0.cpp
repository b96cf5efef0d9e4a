#include "kernels/kv_q8_0.hpp"

#include "common/fp16.hpp"

namespace bitnet::kernels {

void kv_q8_0_scores_ref(const BlockQ8_0* k, int64_t k_stride, int64_t n_pos, const BlockQ8_0* q,
                        int64_t n_q, int64_t n_blocks, float* out, int64_t out_stride) {
  for (int64_t j = 0; j < n_pos; ++j) {
    const BlockQ8_0* kj = k + j * k_stride;
    for (int64_t h = 0; h < n_q; ++h) {
      const BlockQ8_0* qh = q + h * n_blocks;
      float acc[8] = {};
      for (int64_t b = 0; b < n_blocks; ++b) {
        const float dd = fp16_to_fp32(kj[b].d) * fp16_to_fp32(qh[b].d);
        for (int l = 0; l < 8; ++l) {
          int32_t s = 0;
          for (int i = 4 * l; i < 4 * l + 4; ++i) s += kj[b].qs[i] * qh[b].qs[i];
          acc[l] = acc[l] + dd * static_cast<float>(s);
        }
      }
      out[h * out_stride + j] =
          ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
  }
}

void kv_q8_0_values_ref(const BlockQ8_0* v, int64_t v_stride, int64_t n_pos, const float* p,
                        int64_t n_p, int64_t p_stride, float* out, int64_t out_stride,
                        int64_t n_dims) {
  for (int64_t h = 0; h < n_p; ++h) {
    float* o = out + h * out_stride;
    for (int64_t j = 0; j < n_pos; ++j) {
      const BlockQ8_0* vj = v + j * v_stride;
      const float w = p[h * p_stride + j];
      for (int64_t b = 0; b < n_dims / 32; ++b) {
        const float wd = w * fp16_to_fp32(vj[b].d);
        for (int i = 0; i < 32; ++i) {
          o[32 * b + i] = o[32 * b + i] + wd * static_cast<float>(vj[b].qs[i]);
        }
      }
    }
  }
}

KvQ8Kernels kv_q8_kernels_for(Isa isa) {
  switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    // AVX-512 machines take the AVX2 versions: the products are a few instructions per cache row
    // and the step reads the cache from memory either way.
    case Isa::avx2:
    case Isa::avx512:
      return {kv_q8_0_scores_avx2, kv_q8_0_values_avx2};
#elif defined(__aarch64__)
    case Isa::neon:
    case Isa::dotprod:
      return {kv_q8_0_scores_neon, kv_q8_0_values_neon};
#endif
    default:
      return {};
  }
}

const KvQ8Kernels& kv_q8_kernels() {
  static const KvQ8Kernels selected = [] {
    KvQ8Kernels k = kv_q8_kernels_for(selected_isa());
    if (k.scores == nullptr) k = {kv_q8_0_scores_ref, kv_q8_0_values_ref};
    return k;
  }();
  return selected;
}

}  // namespace bitnet::kernels
