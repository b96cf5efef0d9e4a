// AVX2 head kernels in head_gemv.hpp's order. Products of signed bytes use ggml's sign trick:
// vpmaddubsw(|w|, sign(a, w)) then vpmaddwd with ones (|w| <= 128, |a| <= 127: pair sums fit in
// int16), so each int32 lane holds exact partial sums.
//  - Q8_0: a 32-byte half of a group's 64-byte vector holds 4 values of 8 blocks; the 16 lanes of
//    the oracle are two ymm accumulators (blocks 0-7 and 8-15 of each group).
//  - Q6_K: ggml's block layout, 32 values at a time, as ggml_vec_dot_q6_K_q8_K's AVX2 path.
#include <immintrin.h>

#include "kernels/head_gemv.hpp"

namespace bitnet::kernels {
namespace {

constexpr int64_t kQ6BlockBytes = 210;

inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

inline int32_t hsum_epi32(__m256i v) {
  const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
  const __m128i s1 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1));
  return _mm_cvtsi128_si32(s1);
}

// Exact int32 sums of 4 products of each int32 lane: w * a with signed bytes.
inline __m256i dot_i8_lanes(__m256i w, __m256i a) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

void q8_0_rows(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const int64_t groups = w.cols_padded / kHeadQ8Group;
  const int64_t scales_per_row = w.cols_padded / 32;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int8_t* wr = w.q8 + r * w.cols_padded;
    const uint16_t* ws = w.q8_scales + r * scales_per_row;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};  // lanes 0-7, 8-15
    for (int64_t g = 0; g < groups; ++g) {
      const int8_t* wg = wr + g * kHeadQ8Group;
      const int8_t* ag = a.q.data() + g * kHeadQ8Group;
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) {
          sum = _mm256_add_epi32(sum, dot_i8_lanes(load256(wg + c * 64 + half * 32),
                                                   load256(ag + c * 64 + half * 32)));
        }
        const int64_t first = g * kHeadQ8GroupBlocks + half * 8;
        const __m256 dw =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ws + first)));
        const __m256 d = _mm256_mul_ps(dw, _mm256_loadu_ps(a.d.data() + first));
        acc[half] = _mm256_add_ps(acc[half], _mm256_mul_ps(d, _mm256_cvtepi32_ps(sum)));
      }
    }
    const __m256 h = _mm256_add_ps(acc[0], acc[1]);
    const __m128 g = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 e = _mm_add_ps(g, _mm_movehl_ps(g, g));
    y[r] = _mm_cvtss_f32(e) + _mm_cvtss_f32(_mm_shuffle_ps(e, e, 1));
  }
}

void q6_k_rows(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
               int64_t row_end) {
  const int64_t blocks = w.cols / 256;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  // 32 values = 2 sub-blocks: bytes 0-7 pick the first one's scale, bytes 8-15 the second's.
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
        const __m256i ql_a = load256(block + half * 64);
        const __m256i ql_b = load256(block + half * 64 + 32);
        const __m256i qh = load256(block + 128 + half * 32);
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
          const __m256i pairs = _mm256_maddubs_epi16(levels[k], load256(q + half * 128 + k * 32));
          const __m256i scale =
              _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, scale_pick[half * 4 + k]));
          acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scale));
        }
      }
      const __m256i offset =
          _mm256_madd_epi16(_mm256_cvtepi8_epi16(scales), load256(a.bsums.data() + b * 16));
      const int32_t sum = hsum_epi32(acc) - 32 * hsum_epi32(offset);
      const float d = _cvtsh_ss(static_cast<uint16_t>(block[208] | (block[209] << 8))) * a.d[b];
      yr = yr + d * static_cast<float>(sum);
    }
    y[r] = yr;
  }
}

}  // namespace

void head_gemv_rows_avx2(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
                         int64_t row_end) {
  if (w.type == TensorType::Q6_K) {
    q6_k_rows(w, a, y, row_begin, row_end);
  } else {
    q8_0_rows(w, a, y, row_begin, row_end);
  }
}

}  // namespace bitnet::kernels
