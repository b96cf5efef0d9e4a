// The ternary x int8 matmul shared by the AVX2 and AVX-512 kernels, written once over a vector
// policy V (ternary_avx2.cpp, ternary_avx512.cpp) that supplies the integer dot tile and the lane
// reduction.
//
// Scheme: a tile of MR weight rows is decoded one 256-weight chunk at a time into codes c = w + 1
// (u8, L1-resident); a tile of NT token rows is dotted against it with u8 x s8 multiply-adds,
// giving MR*NT exact sums of c*q; sum(w*q) = sum(c*q) - sum(q). The reference's float rescale then
// runs lane-wise in the reference's order (TQ: per 256-block, blocks in order; I2_S: once per row),
// so the outputs are bit-identical to ternary_matmul_ref. Included only by the ISA files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/fp16.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels/ternary_decode_x86.hpp"
#include "kernels/ternary_kernels.hpp"

namespace bitnet::kernels::x86 {
namespace {

constexpr int kPanelTiles = 16;  // token tiles that share one decoded weight chunk

inline float tq_row_block_scale(const TernaryWeights& w, int64_t r, int64_t b) {
  const int64_t ts = w.type == TensorType::TQ2_0 ? 66 : 54;
  const uint8_t* p = w.data + (r * (w.k / kChunk) + b) * ts + ts - 2;
  return fp16_to_fp32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}

// Rows [r0, r0 + rows) (rows <= MR) for tokens [t0, t0 + tokens) (tokens <= NT * kPanelTiles).
template <class V, int MR, int NT>
void matmul_panel(const TernaryWeights& w, const QuantizedActs& a, const int32_t* sub, float* y,
                  int64_t r0, int rows, int64_t t0, int64_t tokens) {
  constexpr int L = MR * NT;
  static_assert(L == V::kLanes);
  const bool is_tq = w.type != TensorType::I2_S;
  const int64_t nb = is_tq ? w.k / kChunk : 1;  // scale blocks per row (Q8K/TQ blocks)
  const int64_t n_chunks = (w.k + kChunk - 1) / kChunk;
  const int tiles = static_cast<int>((tokens + NT - 1) / NT);

  alignas(64) uint8_t codes[MR][kChunk];
  // TQ: ggml's 8 float lanes per output (see tq_row_dot_ggml); I2_S: one integer sum per output.
  alignas(64) float acc_f[kPanelTiles][L][8];
  alignas(64) int32_t acc_i[kPanelTiles][L];
  alignas(64) int32_t sums[L];
  float d_row[MR] = {};
  if (is_tq) {
    std::memset(acc_f, 0, sizeof(acc_f[0]) * tiles);
  } else {
    std::memset(acc_i, 0, sizeof(acc_i[0]) * tiles);
  }
  if (rows < MR) std::memset(codes[rows], 0, kChunk * (MR - rows));  // rows past the end stay zero

  for (int64_t c = 0; c < n_chunks; ++c) {
    int64_t len = 0;
    for (int i = 0; i < rows; ++i) len = decode_chunk(w, r0 + i, c, codes[i]);
    if (is_tq) {
      for (int i = 0; i < rows; ++i) d_row[i] = tq_row_block_scale(w, r0 + i, c);
    }
    for (int tile = 0; tile < tiles; ++tile) {
      const int8_t* acts[NT];
      for (int t = 0; t < NT; ++t) {
        const int64_t tok =
            t0 + std::min<int64_t>(tile * NT + t, tokens - 1);  // pad with a valid row
        acts[t] = a.row(tok) + c * kChunk;
      }
      typename V::IVec acc[L];
      for (auto& v : acc) v = V::zero();
      V::template dot<MR, NT>(codes[0], kChunk, acts, len, acc);
      if (is_tq) {  // codes are in element order: the dot's dword p is ggml's lane p
        for (int t = 0; t < NT; ++t) {
          const int64_t tok = t0 + std::min<int64_t>(tile * NT + t, tokens - 1);
          const float d_act = a.scale[tok * nb + c];
          const int32_t* sub_tok = sub + tok * (w.k / 32) + c * 8;
          for (int i = 0; i < MR; ++i) {
            V::accumulate_lanes(acc_f[tile][i * NT + t], acc[i * NT + t], sub_tok, d_act * d_row[i],
                                a.order);
          }
        }
      } else {
        V::reduce_store(acc, sums);
        for (int l = 0; l < L; ++l) acc_i[tile][l] += sums[l];
      }
    }
  }

  for (int tile = 0; tile < tiles; ++tile) {
    for (int t = 0; t < NT && tile * NT + t < tokens; ++t) {
      const int64_t tok = t0 + tile * NT + t;
      float* out = y + tok * w.n + r0;
      for (int i = 0; i < rows; ++i) {
        const int l = i * NT + t;
        if (is_tq) {  // ggml's hsum_float_8
          const float* f = acc_f[tile][l];
          out[i] = ((f[4] + f[0]) + (f[6] + f[2])) + ((f[5] + f[1]) + (f[7] + f[3]));
        } else {  // sum(c*q) - sum(q), as ternary_matmul_ref
          out[i] = (static_cast<float>(acc_i[tile][l]) - static_cast<float>(a.qsum[tok])) /
                   a.scale[tok] * w.tensor_scale;
        }
      }
    }
  }
}

template <class V, int MR, int NT>
void matmul_rows(const TernaryWeights& w, const QuantizedActs& a, float* y, int64_t row_begin,
                 int64_t row_end) {
  constexpr int64_t kPanelTokens = static_cast<int64_t>(NT) * kPanelTiles;
  // TQ: q sums over 32-element sub-blocks per token (ggml's lanes subtract them).
  thread_local std::vector<int32_t> sub;
  if (w.type != TensorType::I2_S) {
    sub.resize(static_cast<size_t>(a.n_tokens * (w.k / 32)));
    q8k_sub_block_sums(a, sub.data());
  }
  for (int64_t r0 = row_begin; r0 < row_end; r0 += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, row_end - r0));
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kPanelTokens) {
      matmul_panel<V, MR, NT>(w, a, sub.data(), y, r0, rows, t0,
                              std::min(kPanelTokens, a.n_tokens - t0));
    }
  }
}

// GEMV shape for one token (many rows share the activation), GEMM shape otherwise.
template <class V>
void ternary_matmul_simd(const TernaryWeights& w, const QuantizedActs& a, float* y,
                         int64_t row_begin, int64_t row_end) {
  if (!simd_handles(w)) {
    ternary_matmul_ref(w, a, y, row_begin, row_end);
    return;
  }
  if (a.n_tokens == 1) {
    matmul_rows<V, V::kGemvRows, 1>(w, a, y, row_begin, row_end);
  } else {
    matmul_rows<V, V::kGemmRows, V::kLanes / V::kGemmRows>(w, a, y, row_begin, row_end);
  }
}

}  // namespace
}  // namespace bitnet::kernels::x86
