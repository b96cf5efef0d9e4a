// The quantized head: building it at load (quantize + lay out, parallel over rows), activation
// quantization, the scalar oracle of head_gemv.hpp's numerics and the dispatch.
#include "kernels/head_gemv.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels/cpu_features.hpp"
#include "quant/dequantize.hpp"
#include "quant/quantize.hpp"

namespace bitnet::kernels {
namespace {

constexpr int64_t kQ8Block = 32;
constexpr int64_t kQ8BlockBytes = 34;
constexpr int64_t kSuperBlock = 256;
constexpr int64_t kQ6BlockBytes = 210;

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Offset of value j (< 32) of block b of a row in the interleaved Q8_0 layout.
int64_t q8_offset(int64_t b, int64_t j) {
  return (b / kHeadQ8GroupBlocks) * kHeadQ8Group + (j / 4) * 64 + (b % kHeadQ8GroupBlocks) * 4 +
         j % 4;
}

// ggml block_q8_0 blocks of one row (cols values) -> the interleaved values and fp16 scales of
// cols_padded values; the padding blocks are zero (scale 0, values 0).
void lay_out_q8_0(const uint8_t* blocks, int64_t cols, int64_t cols_padded, int8_t* q,
                  uint16_t* scales) {
  const int64_t nb = cols / kQ8Block;
  std::memset(q + nb / kHeadQ8GroupBlocks * kHeadQ8Group, 0,
              static_cast<size_t>(cols_padded - nb / kHeadQ8GroupBlocks * kHeadQ8Group));
  for (int64_t b = 0; b < cols_padded / kQ8Block; ++b) {
    if (b >= nb) {
      scales[b] = 0;
      continue;
    }
    const uint8_t* block = blocks + b * kQ8BlockBytes;
    scales[b] = load_u16(block);
    for (int64_t j = 0; j < kQ8Block; ++j) q[q8_offset(b, j)] = static_cast<int8_t>(block[2 + j]);
  }
}

void check_head_shape(TensorType target, TensorType src_type, int64_t cols) {
  if (target != TensorType::Q8_0 && target != TensorType::Q6_K) {
    throw Error(ErrorCategory::config, "the output head can be quantized to Q8_0 or Q6_K, not " +
                                           std::string(to_string(target)));
  }
  if (src_type != target && (!can_dequantize(src_type) || is_ternary(src_type))) {
    throw Error(ErrorCategory::config,
                "cannot quantize an output head stored as " + std::string(to_string(src_type)));
  }
  const int64_t block = traits(target).block_size;
  if (cols <= 0 || cols % block != 0) {
    throw Error(ErrorCategory::config,
                "cannot quantize the output head to " + std::string(to_string(target)) +
                    ": rows of " + std::to_string(cols) + " values are not whole blocks of " +
                    std::to_string(block));
  }
}

// Runs body(row) for every row, in chunks so that progress can be reported between them from the
// calling thread.
template <typename Body>
void for_rows_with_progress(int64_t rows, int n_threads, const std::function<void(float)>& progress,
                            Body body) {
  const int64_t chunk = std::max<int64_t>(1024, rows / 64);
  for (int64_t begin = 0; begin < rows; begin += chunk) {
    const int64_t end = std::min(rows, begin + chunk);
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t r = begin; r < end; ++r) body(r);
    if (progress) progress(static_cast<float>(end) / static_cast<float>(rows));
  }
}

float q8_0_row_dot_ref(const int8_t* w, const uint16_t* w_scales, const HeadActs& a,
                       int64_t cols_padded) {
  float acc[kHeadQ8GroupBlocks] = {};
  const int64_t nb = cols_padded / kQ8Block;
  for (int64_t b = 0; b < nb; ++b) {
    int32_t sum = 0;
    for (int64_t j = 0; j < kQ8Block; ++j) {
      const int64_t at = q8_offset(b, j);
      sum += static_cast<int32_t>(w[at]) * static_cast<int32_t>(a.q[at]);
    }
    const float d = fp16_to_fp32(w_scales[b]) * a.d[b];
    const int64_t lane = b % kHeadQ8GroupBlocks;
    acc[lane] = acc[lane] + d * static_cast<float>(sum);
  }
  float h[8], g[4];
  for (int j = 0; j < 8; ++j) h[j] = acc[j] + acc[8 + j];
  for (int j = 0; j < 4; ++j) g[j] = h[j] + h[4 + j];
  const float e0 = g[0] + g[2];
  const float e1 = g[1] + g[3];
  return e0 + e1;
}

// The 256 levels (0..63) of one block_q6_K, in element order.
void unpack_q6_k_levels(const uint8_t* block, int* levels) {
  const uint8_t* ql = block;
  const uint8_t* qh = block + 128;
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, levels += 128) {
    for (int l = 0; l < 32; ++l) {
      levels[l] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
      levels[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
      levels[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
      levels[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
    }
  }
}

float q6_k_row_dot_ref(const uint8_t* row, const HeadActs& a, int64_t cols) {
  float y = 0;
  int levels[kSuperBlock];
  for (int64_t b = 0; b < cols / kSuperBlock; ++b) {
    const uint8_t* block = row + b * kQ6BlockBytes;
    unpack_q6_k_levels(block, levels);
    const auto* scales = reinterpret_cast<const int8_t*>(block + 192);
    const int8_t* q = a.q.data() + b * kSuperBlock;
    int32_t sum = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t sub = 0;
      for (int i = 0; i < 16; ++i) sub += (levels[16 * j + i] - 32) * q[16 * j + i];
      sum += static_cast<int32_t>(scales[j]) * sub;
    }
    const float d = fp16_to_fp32(load_u16(block + 208)) * a.d[b];
    y = y + d * static_cast<float>(sum);
  }
  return y;
}

}  // namespace

int64_t QuantizedHead::nbytes() const {
  if (type == TensorType::Q6_K) return rows * q6_row_bytes;
  return rows * (cols_padded + cols_padded / kQ8Block * 2);
}

QuantizedHead quantize_head(TensorType target, TensorType src_type, const uint8_t* src,
                            int64_t src_row_bytes, int64_t rows, int64_t cols, int n_threads,
                            const std::function<void(float)>& progress) {
  check_head_shape(target, src_type, cols);
  const int threads = std::max(1, n_threads);
  QuantizedHead h;
  h.type = target;
  h.rows = rows;
  h.cols = cols;
  if (target == TensorType::Q6_K) {
    h.cols_padded = cols;
    h.q6_row_bytes = cols / kSuperBlock * kQ6BlockBytes;
    if (src_type == TensorType::Q6_K) {  // already the kernels' layout: used in place
      h.q6 = src;
      h.q6_row_bytes = src_row_bytes;
      if (progress) progress(1.0f);
      return h;
    }
    std::shared_ptr<uint8_t[]> storage(new uint8_t[static_cast<size_t>(rows * h.q6_row_bytes)]);
    uint8_t* out = storage.get();
    std::vector<std::vector<float>> row_buffers(static_cast<size_t>(threads),
                                                std::vector<float>(static_cast<size_t>(cols)));
    for_rows_with_progress(rows, threads, progress, [&](int64_t r) {
      float* x = row_buffers[static_cast<size_t>(omp_get_thread_num())].data();
      dequantize_row(src_type, src + r * src_row_bytes, x, cols);
      quantize_row(TensorType::Q6_K, x, out + r * h.q6_row_bytes, cols);
    });
    h.q6 = out;
    h.storage = std::move(storage);
    return h;
  }
  h.cols_padded = (cols + kHeadQ8Group - 1) / kHeadQ8Group * kHeadQ8Group;
  const int64_t scale_count = rows * (h.cols_padded / kQ8Block);
  const auto value_bytes = static_cast<size_t>(rows * h.cols_padded);
  // Values first (64-byte aligned, whole groups per row), then the scales.
  std::shared_ptr<uint8_t[]> storage(
      new uint8_t[value_bytes + static_cast<size_t>(scale_count) * 2 + 64]);
  auto* values =
      reinterpret_cast<int8_t*>((reinterpret_cast<uintptr_t>(storage.get()) + 63) & ~uintptr_t{63});
  auto* scales = reinterpret_cast<uint16_t*>(values + value_bytes);
  const int64_t block_bytes = cols / kQ8Block * kQ8BlockBytes;
  std::vector<std::vector<float>> row_buffers(static_cast<size_t>(threads),
                                              std::vector<float>(static_cast<size_t>(cols)));
  std::vector<std::vector<uint8_t>> block_buffers(
      static_cast<size_t>(threads), std::vector<uint8_t>(static_cast<size_t>(block_bytes)));
  for_rows_with_progress(rows, threads, progress, [&](int64_t r) {
    const auto t = static_cast<size_t>(omp_get_thread_num());
    const uint8_t* blocks = src + r * src_row_bytes;
    if (src_type != TensorType::Q8_0) {
      dequantize_row(src_type, blocks, row_buffers[t].data(), cols);
      quantize_row(TensorType::Q8_0, row_buffers[t].data(), block_buffers[t].data(), cols);
      blocks = block_buffers[t].data();
    }
    lay_out_q8_0(blocks, cols, h.cols_padded, values + r * h.cols_padded,
                 scales + r * (h.cols_padded / kQ8Block));
  });
  h.q8 = values;
  h.q8_scales = scales;
  h.storage = std::move(storage);
  return h;
}

void quantize_head_acts(const QuantizedHead& w, const float* x, HeadActs& acts) {
  acts.cols = w.cols;
  if (w.type == TensorType::Q6_K) {
    quantize_acts_ref(ActQuant::Q8K, x, 1, w.cols, acts.q8k);
    acts.q.assign(acts.q8k.q.begin(), acts.q8k.q.end());
    acts.d.assign(acts.q8k.scale.begin(), acts.q8k.scale.end());
    acts.bsums.resize(static_cast<size_t>(w.cols / 16));
    for (int64_t j = 0; j < w.cols / 16; ++j) {
      int32_t sum = 0;
      for (int64_t i = 0; i < 16; ++i) sum += acts.q[16 * j + i];
      acts.bsums[j] = static_cast<int16_t>(sum);
    }
    return;
  }
  const int64_t nb = w.cols_padded / kQ8Block;
  acts.blocks.resize(static_cast<size_t>(w.cols / kQ8Block * kQ8BlockBytes));
  quantize_row(TensorType::Q8_0, x, acts.blocks.data(), w.cols);
  acts.q.resize(static_cast<size_t>(w.cols_padded));
  acts.scales.resize(static_cast<size_t>(nb));
  lay_out_q8_0(acts.blocks.data(), w.cols, w.cols_padded, acts.q.data(), acts.scales.data());
  acts.d.resize(static_cast<size_t>(nb));
  acts.bias.resize(static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; ++b) {
    acts.d[b] = fp16_to_fp32(acts.scales[b]);
    int32_t sum = 0;
    for (int64_t j = 0; j < kQ8Block; ++j) sum += acts.q[q8_offset(b, j)];
    acts.bias[b] = 128 * sum;
  }
}

void head_gemv_rows_ref(const QuantizedHead& w, const HeadActs& a, float* y, int64_t row_begin,
                        int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    if (w.type == TensorType::Q6_K) {
      y[r] = q6_k_row_dot_ref(w.q6 + r * w.q6_row_bytes, a, w.cols);
    } else {
      y[r] = q8_0_row_dot_ref(w.q8 + r * w.cols_padded,
                              w.q8_scales + r * (w.cols_padded / kQ8Block), a, w.cols_padded);
    }
  }
}

HeadGemvRows head_gemv_rows_for(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (isa == Isa::avx2) return head_gemv_rows_avx2;
  if (isa == Isa::avx512) return head_gemv_rows_avx512;
#elif defined(__aarch64__)
  if (isa == Isa::neon || isa == Isa::dotprod) return head_gemv_rows_neon;
#endif
  (void)isa;
  return nullptr;
}

void head_gemv(const QuantizedHead& w, const float* x, HeadActs& scratch, float* y, int n_threads) {
  quantize_head_acts(w, x, scratch);
  const HeadGemvRows kernel = head_gemv_rows_for(selected_isa());
  const int64_t n = w.rows;
  const int threads = static_cast<int>(std::clamp<int64_t>(n_threads, 1, std::max<int64_t>(n, 1)));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = n * t / threads;
    const int64_t end = n * (t + 1) / threads;
    if (kernel != nullptr) {
      kernel(w, scratch, y, begin, end);
    } else {
      head_gemv_rows_ref(w, scratch, y, begin, end);
    }
  }
}

}  // namespace bitnet::kernels
