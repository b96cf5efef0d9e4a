// The ternary x int8 matmul of the ARM kernel sets, written once and compiled twice: in
// ternary_matmul_neon.cpp (ARMv8-A baseline: widening multiplies) and ternary_matmul_dotprod.cpp
// (built with +dotprod, so __ARM_FEATURE_DOTPROD selects SDOT). Included only by those files.
//
// Codes c = w + 1 (the file's 2-bit codes, TQ1_0's base-3 digits) are dotted as signed bytes with
// the int8 activations; sum(w*q) = sum(c*q) - sum(q). Every integer dot keeps ggml's lane split of
// a 256-block (lane p: elements 32g + 4p .. 32g + 4p + 3 of every 32-element group g), so the TQ
// reference order (per-lane FMA per block, then ggml's hsum) and the blocks order (one FMA on the
// block's exact sum) are the oracle's, bit for bit; I2_S needs only the row's integer total.
//
// Shapes: one token on I2_S or TQ2_0 decodes the codes in registers (gemv_2bit, kGemvRows rows);
// everything else decodes 256-weight chunks of MR rows into L1 and dots NT tokens against them.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/fp16.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels/ternary_kernels.hpp"

namespace bitnet::kernels::arm {
namespace {

constexpr int64_t kChunk = 256;  // weights decoded at a time: one TQ block, two I2_S blocks

// Sums of c * q over 16-value vectors in 4 int32 lanes: lane j = sum over every added vector of
// c[4j + e] * q[4j + e], e < 4 (SDOT's grouping). The baseline keeps one int16 per position
// (SMLAL, 2 instructions per 16 products instead of SDOT's 1) and folds positions into lanes only
// in lanes(); with |c| <= 3 a position holds at most 85 products without wrapping, and callers add
// at most 8 vectors (one 256-value block) between resets.
struct LaneAcc {
#if defined(__ARM_FEATURE_DOTPROD)
  int32x4_t sum = vdupq_n_s32(0);
  void add(int8x16_t c, int8x16_t q) {
    sum = vdotq_s32(sum, c, q);
  }
  int32x4_t lanes() const {
    return sum;
  }
#else
  int16x8_t lo = vdupq_n_s16(0), hi = vdupq_n_s16(0);  // positions 0-7 and 8-15
  void add(int8x16_t c, int8x16_t q) {
    lo = vmlal_s8(lo, vget_low_s8(c), vget_low_s8(q));
    hi = vmlal_high_s8(hi, c, q);
  }
  int32x4_t lanes() const {
    return vpaddlq_s16(vpaddq_s16(lo, hi));
  }
#endif
};

#if defined(__ARM_FEATURE_DOTPROD)
constexpr int kGemvRows = 4;  // rows of the register GEMV (accumulators: 2 registers per row)
constexpr int kTileRows = 4;  // the tile path's MR x NT (x2 accumulators for ggml's lane halves)
#else
constexpr int kGemvRows = 2;  // the int16 accumulators take twice the registers
constexpr int kTileRows = 2;
#endif
constexpr int kTileTokens = 2;

inline int8x16_t load_s8(const int8_t* p) {
  return vld1q_s8(p);
}
inline int8x16_t codes_of(uint8x16_t packed, int shift) {
  const uint8x16_t mask3 = vdupq_n_u8(3);
  switch (shift) {
    case 0:
      return vreinterpretq_s8_u8(vandq_u8(packed, mask3));
    case 2:
      return vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(packed, 2), mask3));
    case 4:
      return vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(packed, 4), mask3));
    default:
      return vreinterpretq_s8_u8(vshrq_n_u8(packed, 6));
  }
}

// The block's fp16 scale, converted by FCVTL (exact, as fp16_to_fp32).
inline float block_scale(const uint8_t* scale_bytes) {
  uint16_t bits;
  std::memcpy(&bits, scale_bytes, 2);
  return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(bits))), 0);
}

// ggml's hsum_float_8 of the lanes (lo = lanes 0-3, hi = lanes 4-7):
// ((l4 + l0) + (l6 + l2)) + ((l5 + l1) + (l7 + l3)).
inline float hsum8_ggml(float32x4_t lo, float32x4_t hi) {
  const float32x4_t r = vaddq_f32(hi, lo);
  const float32x2_t h = vadd_f32(vget_low_f32(r), vget_high_f32(r));
  return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);
}

// ---- decoding into codes (one byte per weight, element order)

// TQ2_0 block (qs[64], d): byte m of each 32-byte half holds elements 128h + 32l + m at bits 2l.
inline void decode_tq2_0_block(const uint8_t* block, uint8_t* codes) {
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 2; ++s) {
      const uint8x16_t x = vld1q_u8(block + 32 * h + 16 * s);
      for (int l = 0; l < 4; ++l) {
        vst1q_s8(reinterpret_cast<int8_t*>(codes + 128 * h + 32 * l + 16 * s), codes_of(x, 2 * l));
      }
    }
  }
}

// One I2_S block of 128 values (32 bytes): element m + 32l at bits 6 - 2l of byte m.
inline void decode_i2s_block(const uint8_t* block, uint8_t* codes) {
  for (int s = 0; s < 2; ++s) {
    const uint8x16_t x = vld1q_u8(block + 16 * s);
    for (int l = 0; l < 4; ++l) {
      vst1q_s8(reinterpret_cast<int8_t*>(codes + 32 * l + 16 * s), codes_of(x, 6 - 2 * l));
    }
  }
}

// TQ1_0 digit n of byte q is ((q * 3^n mod 256) * 3) >> 8: 0, 1 or 2 as q * 3^n mod 256 is below
// 86, below 171, or above. The compares give -1 per threshold passed.
inline uint8x16_t tq1_digit(uint8x16_t q) {
  const uint8x16_t ge86 = vcgeq_u8(q, vdupq_n_u8(86));
  const uint8x16_t ge171 = vcgeq_u8(q, vdupq_n_u8(171));
  return vreinterpretq_u8_s8(vnegq_s8(vreinterpretq_s8_u8(vaddq_u8(ge86, ge171))));
}

// TQ1_0 block (qs[48], qh[4], d): bytes 0-31 hold elements 32n + m (digit n), bytes 32-47
// elements 160 + 16n + m, the 4 qh bytes elements 240 + 4n + m (digits 0-3).
inline void decode_tq1_0_block(const uint8_t* block, uint8_t* codes) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8x16_t q0 = vld1q_u8(block), q1 = vld1q_u8(block + 16), q2 = vld1q_u8(block + 32);
  for (int n = 0; n < 5; ++n) {
    const uint8x16_t p = vdupq_n_u8(kPow3[n]);
    vst1q_u8(codes + 32 * n, tq1_digit(vmulq_u8(q0, p)));
    vst1q_u8(codes + 32 * n + 16, tq1_digit(vmulq_u8(q1, p)));
    vst1q_u8(codes + 160 + 16 * n, tq1_digit(vmulq_u8(q2, p)));
  }
  // The qh bytes repeated per digit: lane 4n + m is byte m times 3^n.
  uint32_t qh;
  std::memcpy(&qh, block + 48, 4);
  static constexpr uint8_t kPow3Lanes[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
  const uint8x16_t rep = vreinterpretq_u8_u32(vdupq_n_u32(qh));
  vst1q_u8(codes + 240, tq1_digit(vmulq_u8(rep, vld1q_u8(kPow3Lanes))));
}

// Chunk c of row r (weights [256c, 256c + 256), fewer at an I2_S row's end) into codes; returns
// the number of weights decoded (256, or 128 for the last I2_S chunk of a row of 128 mod 256).
inline int64_t decode_chunk(const TernaryWeights& w, int64_t r, int64_t c, uint8_t* codes) {
  switch (w.type) {
    case TensorType::TQ2_0:
      decode_tq2_0_block(w.data + (r * (w.k / kChunk) + c) * 66, codes);
      return kChunk;
    case TensorType::TQ1_0:
      decode_tq1_0_block(w.data + (r * (w.k / kChunk) + c) * 54, codes);
      return kChunk;
    default: {
      const uint8_t* block = w.data + (r * w.k + c * kChunk) / 4;  // flat index, multiple of 128
      decode_i2s_block(block, codes);
      if (w.k - c * kChunk < kChunk) return 128;
      decode_i2s_block(block + 32, codes + 128);
      return kChunk;
    }
  }
}

inline const uint8_t* tq_block(const TernaryWeights& w, int64_t r, int64_t b) {
  const int64_t ts = w.type == TensorType::TQ2_0 ? 66 : 54;
  return w.data + (r * (w.k / kChunk) + b) * ts;
}

// ---- the tile path: MR rows x NT tokens per step, codes from L1

constexpr int kPanelTiles = 16;  // token tiles that share one decoded chunk

// Rows [r0, r0 + rows) (rows <= MR) for tokens [t0, t0 + tokens) (tokens <= NT * kPanelTiles).
template <int MR, int NT>
void matmul_panel(const TernaryWeights& w, const QuantizedActs& a, const int32_t* sub, float* y,
                  int64_t r0, int rows, int64_t t0, int64_t tokens) {
  const bool is_tq = w.type != TensorType::I2_S;
  const bool blocks_order = a.order == SumOrder::blocks;
  const int64_t nb = is_tq ? w.k / kChunk : 1;
  const int64_t n_chunks = (w.k + kChunk - 1) / kChunk;
  const int tiles = static_cast<int>((tokens + NT - 1) / NT);
  const int64_t scale_offset = w.type == TensorType::TQ2_0 ? 64 : 52;  // the block's fp16 d

  alignas(16) uint8_t codes[MR][kChunk];
  // TQ reference order: ggml's 8 float lanes per output; blocks order: lane 0 only; I2_S: the
  // integer total.
  alignas(16) float acc_f[kPanelTiles][MR * NT][8];
  int32_t acc_i[kPanelTiles][MR * NT];
  float d_row[MR] = {};
  std::memset(acc_f, 0, sizeof(acc_f[0]) * tiles);
  std::memset(acc_i, 0, sizeof(acc_i[0]) * tiles);
  if (rows < MR) std::memset(codes[rows], 0, kChunk * (MR - rows));  // rows past the end stay zero

  for (int64_t c = 0; c < n_chunks; ++c) {
    int64_t len = 0;
    for (int i = 0; i < rows; ++i) len = decode_chunk(w, r0 + i, c, codes[i]);
    if (is_tq) {
      for (int i = 0; i < rows; ++i) d_row[i] = block_scale(tq_block(w, r0 + i, c) + scale_offset);
    }
    for (int tile = 0; tile < tiles; ++tile) {
      int64_t tok[NT];
      const int8_t* acts[NT];
      for (int t = 0; t < NT; ++t) {
        tok[t] = t0 + std::min<int64_t>(tile * NT + t, tokens - 1);  // pad with a valid row
        acts[t] = a.row(tok[t]) + c * kChunk;
      }
      LaneAcc lo[MR][NT], hi[MR][NT];  // ggml's lanes 0-3 and 4-7
      for (int64_t g = 0; g < len; g += 32) {
        int8x16_t q0[NT], q1[NT];
        for (int t = 0; t < NT; ++t) {
          q0[t] = load_s8(acts[t] + g);
          q1[t] = load_s8(acts[t] + g + 16);
        }
#pragma GCC unroll 4
        for (int i = 0; i < MR; ++i) {
          const int8x16_t c0 = vld1q_s8(reinterpret_cast<const int8_t*>(codes[i] + g));
          const int8x16_t c1 = vld1q_s8(reinterpret_cast<const int8_t*>(codes[i] + g + 16));
#pragma GCC unroll 4
          for (int t = 0; t < NT; ++t) {
            lo[i][t].add(c0, q0[t]);
            hi[i][t].add(c1, q1[t]);
          }
        }
      }
      for (int i = 0; i < MR; ++i) {
        for (int t = 0; t < NT; ++t) {
          const int l = i * NT + t;
          const int32x4_t lanes_lo = lo[i][t].lanes(), lanes_hi = hi[i][t].lanes();
          if (!is_tq) {
            acc_i[tile][l] += vaddvq_s32(vaddq_s32(lanes_lo, lanes_hi));
            continue;
          }
          const float d = a.scale[tok[t] * nb + c] * d_row[i];
          float* f = acc_f[tile][l];
          if (blocks_order) {  // the block's exact sum: sum(c*q) - sum(q), one FMA
            const int32_t sum = vaddvq_s32(vaddq_s32(lanes_lo, lanes_hi)) - a.bsum[tok[t] * nb + c];
            f[0] = std::fma(static_cast<float>(sum), d, f[0]);
            continue;
          }
          const int32_t* s = sub + tok[t] * (w.k / 32) + c * 8;
          const float32x4_t vlo = vcvtq_f32_s32(vsubq_s32(lanes_lo, vld1q_s32(s)));
          const float32x4_t vhi = vcvtq_f32_s32(vsubq_s32(lanes_hi, vld1q_s32(s + 4)));
          vst1q_f32(f, vfmaq_n_f32(vld1q_f32(f), vlo, d));
          vst1q_f32(f + 4, vfmaq_n_f32(vld1q_f32(f + 4), vhi, d));
        }
      }
    }
  }

  for (int tile = 0; tile < tiles; ++tile) {
    for (int t = 0; t < NT && tile * NT + t < tokens; ++t) {
      const int64_t tok = t0 + tile * NT + t;
      float* out = y + tok * w.n + r0;
      for (int i = 0; i < rows; ++i) {
        const int l = i * NT + t;
        if (is_tq) {
          const float* f = acc_f[tile][l];
          out[i] = hsum8_ggml(vld1q_f32(f), vld1q_f32(f + 4));
        } else {  // sum(c*q) - sum(q), as ternary_matmul_ref
          out[i] = (static_cast<float>(acc_i[tile][l]) - static_cast<float>(a.qsum[tok])) /
                   a.scale[tok] * w.tensor_scale;
        }
      }
    }
  }
}

template <int MR, int NT>
void matmul_rows(const TernaryWeights& w, const QuantizedActs& a, const int32_t* sub, float* y,
                 int64_t row_begin, int64_t row_end) {
  constexpr int64_t kPanelTokens = static_cast<int64_t>(NT) * kPanelTiles;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, row_end - r0));
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kPanelTokens) {
      matmul_panel<MR, NT>(w, a, sub, y, r0, rows, t0, std::min(kPanelTokens, a.n_tokens - t0));
    }
  }
}

// ---- one token on the 2-bit formats: codes decoded in registers, kGemvRows rows at a time

// One 128-value group (32 bytes of 2-bit codes per row: value 32l + m at bits 2l of byte m for
// TQ2_0, 6 - 2l for I2_S) of every row against the token: lo/hi get ggml's lanes 0-3 / 4-7.
template <bool kI2S>
inline __attribute__((always_inline)) void group128(const uint8_t* const* row_ptr, int64_t offset,
                                                    const int8_t* qg, LaneAcc* lo, LaneAcc* hi) {
  int8x16_t q0[4], q1[4];
#pragma GCC unroll 4
  for (int l = 0; l < 4; ++l) {
    q0[l] = load_s8(qg + 32 * l);
    q1[l] = load_s8(qg + 32 * l + 16);
  }
#pragma GCC unroll 4
  for (int i = 0; i < kGemvRows; ++i) {
    const uint8x16_t x0 = vld1q_u8(row_ptr[i] + offset);
    const uint8x16_t x1 = vld1q_u8(row_ptr[i] + offset + 16);
#pragma GCC unroll 4
    for (int l = 0; l < 4; ++l) {
      const int shift = kI2S ? 6 - 2 * l : 2 * l;
      lo[i].add(codes_of(x0, shift), q0[l]);
      hi[i].add(codes_of(x1, shift), q1[l]);
    }
  }
}

template <bool kI2S>
void gemv_2bit(const TernaryWeights& w, const QuantizedActs& a, const int32_t* sub, float* y,
               int64_t row_begin, int64_t row_end) {
  constexpr int R = kGemvRows;
  const int64_t nb = w.k / kChunk;
  const int64_t row_bytes = kI2S ? w.k / 4 : nb * 66;
  const int64_t blocks128 = w.k / 128;
  const int8_t* q = a.row(0);
  const bool blocks_order = a.order == SumOrder::blocks;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += R) {
    const int rows = static_cast<int>(std::min<int64_t>(R, row_end - r0));
    const uint8_t* row_ptr[R];
    for (int i = 0; i < R; ++i)
      row_ptr[i] = w.data + std::min<int64_t>(r0 + i, row_end - 1) * row_bytes;
    if constexpr (kI2S) {
      // Only the rows' integer totals matter: lanes are folded every 256 values (the int16
      // positions of the baseline hold 8 vectors).
      int32x4_t total[R];
      for (auto& v : total) v = vdupq_n_s32(0);
      for (int64_t blk = 0; blk < blocks128; blk += 2) {
        LaneAcc lo[R], hi[R];
        group128<true>(row_ptr, blk * 32, q + blk * 128, lo, hi);
        if (blk + 1 < blocks128)
          group128<true>(row_ptr, blk * 32 + 32, q + blk * 128 + 128, lo, hi);
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i)
          total[i] = vaddq_s32(total[i], vaddq_s32(lo[i].lanes(), hi[i].lanes()));
      }
      for (int i = 0; i < rows; ++i) {  // ((float)sum(c*q) - (float)sum(q)) / s * tensor_scale
        y[r0 + i] = (static_cast<float>(vaddvq_s32(total[i])) - static_cast<float>(a.qsum[0])) /
                    a.scale[0] * w.tensor_scale;
      }
    } else {
      float32x4_t acc_lo[R], acc_hi[R];  // ggml's 8 float lanes
      float acc0[R] = {};                // blocks order: lane 0 alone
      for (int i = 0; i < R; ++i) acc_lo[i] = acc_hi[i] = vdupq_n_f32(0.0f);
      for (int64_t b = 0; b < nb; ++b) {
        LaneAcc lo[R], hi[R];
        group128<false>(row_ptr, b * 66, q + b * 256, lo, hi);
        group128<false>(row_ptr, b * 66 + 32, q + b * 256 + 128, lo, hi);
        const float d_act = a.scale[b];
        const int32x4_t s_lo = vld1q_s32(sub + b * 8), s_hi = vld1q_s32(sub + b * 8 + 4);
#pragma GCC unroll 4
        for (int i = 0; i < R; ++i) {
          const float d = d_act * block_scale(row_ptr[i] + b * 66 + 64);
          if (blocks_order) {
            const int32_t sum = vaddvq_s32(vaddq_s32(lo[i].lanes(), hi[i].lanes())) - a.bsum[b];
            acc0[i] = std::fma(static_cast<float>(sum), d, acc0[i]);
          } else {
            acc_lo[i] = vfmaq_n_f32(acc_lo[i], vcvtq_f32_s32(vsubq_s32(lo[i].lanes(), s_lo)), d);
            acc_hi[i] = vfmaq_n_f32(acc_hi[i], vcvtq_f32_s32(vsubq_s32(hi[i].lanes(), s_hi)), d);
          }
        }
      }
      for (int i = 0; i < rows; ++i) {
        if (blocks_order) {
          const float lanes[8] = {acc0[i], 0, 0, 0, 0, 0, 0, 0};  // the other lanes stay 0
          y[r0 + i] = hsum8_ggml(vld1q_f32(lanes), vld1q_f32(lanes + 4));
        } else {
          y[r0 + i] = hsum8_ggml(acc_lo[i], acc_hi[i]);
        }
      }
    }
  }
}

// The entry point of both ARM sets.
inline void ternary_matmul_arm(const TernaryWeights& w, const QuantizedActs& a, float* y,
                               int64_t row_begin, int64_t row_end) {
  if (!simd_handles(w)) {
    ternary_matmul_ref(w, a, y, row_begin, row_end);
    return;
  }
  // TQ reference order: q sums over 32-element sub-blocks per token (ggml's lanes subtract them).
  thread_local std::vector<int32_t> sub;
  if (w.type != TensorType::I2_S) {
    sub.resize(static_cast<size_t>(a.n_tokens * (w.k / 32)));
    q8k_sub_block_sums(a, sub.data());
  }
  if (a.n_tokens == 1 && w.type == TensorType::I2_S) {
    gemv_2bit<true>(w, a, sub.data(), y, row_begin, row_end);
  } else if (a.n_tokens == 1 && w.type == TensorType::TQ2_0) {
    gemv_2bit<false>(w, a, sub.data(), y, row_begin, row_end);
  } else if (a.n_tokens == 1) {
    matmul_rows<kTileRows, 1>(w, a, sub.data(), y, row_begin, row_end);
  } else {
    matmul_rows<kTileRows, kTileTokens>(w, a, sub.data(), y, row_begin, row_end);
  }
}

}  // namespace
}  // namespace bitnet::kernels::arm
