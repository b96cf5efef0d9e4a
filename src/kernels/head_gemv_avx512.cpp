// AVX-512 (VNNI) head kernels in head_gemv.hpp's order.
//  - Q8_0: one 64-byte vector of a group holds 4 values of each of its 16 blocks (the interleaved
//    layout), so vpdpbusd's int32 lane L sums block L. vpdpbusd multiplies unsigned by signed
//    bytes: the weights are offset by 128 (xor 0x80) and 128 * sum(a) per block is subtracted
//    afterwards (exact). The 16 block sums then take the oracle's float steps lane for lane.
//  - Q6_K: ggml's block layout unpacked 32 values at a time (4 low bits | 2 high bits),
//    vpmaddubsw with the Q8_K activations (levels 0..63, pair sums <= 16002: no saturation),
//    vpdpwssd with the sub-block scales; the -32 offset is applied through the activation sums.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(): a -Wmaybe-uninitialized false
// positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/head_gemv.hpp"

namespace bitnet::kernels {
namespace {

constexpr int64_t kQ6BlockBytes = 210;

inline __m512i load512(const void* p) {
  return _mm512_loadu_si512(p);
}

inline float reduce_16_lanes(__m512 acc) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
  const __m128 g = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  const __m128 e = _mm_add_ps(g, _mm_movehl_ps(g, g));  // {g0 + g2, g1 + g3}
  return _mm_cvtss_f32(e) + _mm_cvtss_f32(_mm_shuffle_ps(e, e, 1));
}

void q8_0_rows(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const int64_t groups = w.cols_padded / kHeadQ8Group;
  const int64_t scales_per_row = w.cols_padded / 32;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int8_t* wr = w.q8 + r * w.cols_padded;
    const uint16_t* ws = w.q8_scales + r * scales_per_row;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; ++g) {
      const int8_t* wg = wr + g * kHeadQ8Group;
      const int8_t* ag = a.q.data() + g * kHeadQ8Group;
      __m512i s0 = _mm512_setzero_si512();
      __m512i s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int c = 0; c < 8; c += 2) {
        s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(load512(wg + c * 64), flip),
                                 load512(ag + c * 64));
        s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(load512(wg + (c + 1) * 64), flip),
                                 load512(ag + (c + 1) * 64));
      }
      const __m512i sum = _mm512_sub_epi32(_mm512_add_epi32(s0, s1),
                                           load512(a.bias.data() + g * kHeadQ8GroupBlocks));
      const __m512 dw = _mm512_cvtph_ps(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ws + g * kHeadQ8GroupBlocks)));
      const __m512 d = _mm512_mul_ps(dw, _mm512_loadu_ps(a.d.data() + g * kHeadQ8GroupBlocks));
      acc = _mm512_add_ps(acc, _mm512_mul_ps(d, _mm512_cvtepi32_ps(sum)));
    }
    y[r] = reduce_16_lanes(acc);
  }
}

// Q6_K in 256-bit vectors, as the AVX2 kernel with vpdpwssd (AVX512_VNNI + VL) fusing the scale
// multiply-add: a 512-bit version (64 values per step, scales spread with vpermw) measured ~10%
// slower on Zen 4, whose 512-bit operations are two 256-bit halves.
void q6_k_rows(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const int64_t blocks = w.cols / 256;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  __m128i scale_pick[8];
  for (int s = 0; s < 8; ++s) {
    scale_pick[s] =
        _mm_set_epi64x(0x0101010101010101LL * (2 * s + 1), 0x0101010101010101LL * (2 * s));
  }
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = w.q6 + r * w.q6_row_bytes;
    float yr = 0;
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* block = row + b * kQ6BlockBytes;
      const int8_t* q = a.q.data() + b * 256;
      const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 192));
      __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        const __m256i ql_a =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + half * 64));
        const __m256i ql_b =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + half * 64 + 32));
        const __m256i qh =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 128 + half * 32));
        const __m256i levels[4] = {
            _mm256_or_si256(_mm256_and_si256(ql_a, low4),
                            _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
            _mm256_or_si256(_mm256_and_si256(ql_b, low4),
                            _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), low4),
                            _mm256_and_si256(qh, bits45)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), low4),
                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
        };
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          const __m256i pairs = _mm256_maddubs_epi16(
              levels[k],
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + half * 128 + k * 32)));
          const __m256i scale =
              _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, scale_pick[half * 4 + k]));
          acc = _mm256_dpwssd_epi32(acc, pairs, scale);
        }
      }
      const __m256i offset = _mm256_madd_epi16(
          _mm256_cvtepi8_epi16(scales),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums.data() + b * 16)));
      const __m256i total = _mm256_sub_epi32(acc, _mm256_slli_epi32(offset, 5));
      const __m128i s4 =
          _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
      const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
      const int32_t sum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
      const float d = _cvtsh_ss(static_cast<uint16_t>(block[208] | (block[209] << 8))) * a.d[b];
      yr = yr + d * static_cast<float>(sum);
    }
    y[r] = yr;
  }
}

}  // namespace

void head_gemv_rows_avx512(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
                           int64_t row_end) {
  if (w.type == TensorType::Q6_K) {
    q6_k_rows(w, a, y, row_begin, row_end);
  } else {
    q8_0_rows(w, a, y, row_begin, row_end);
  }
}

}  // namespace bitnet::kernels
