// Kernel selection for BitLinear: the ISA chosen once per process (cpu_features.hpp), the work
// split statically over OpenMP threads in whole row tiles. Every output element is computed by one
// thread in a fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "common/mapped_file.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels/ternary_kernels.hpp"

namespace bitnet::kernels {

const KernelSet& kernel_set(Isa isa) {
  static const KernelSet scalar{Isa::scalar, quantize_acts_ref, ternary_matmul_ref};
#if defined(__x86_64__) || defined(__i386__)
  static const KernelSet avx2{Isa::avx2, quantize_acts_avx2, ternary_matmul_avx2};
  static const KernelSet avx512{Isa::avx512, quantize_acts_avx512, ternary_matmul_avx512};
  if (isa == Isa::avx2) return avx2;
  if (isa == Isa::avx512) return avx512;
#elif defined(__aarch64__)
  static const KernelSet neon{Isa::neon, quantize_acts_neon, ternary_matmul_neon};
  static const KernelSet dotprod{Isa::dotprod, quantize_acts_neon, ternary_matmul_dotprod};
  if (isa == Isa::neon) return neon;
  if (isa == Isa::dotprod) return dotprod;
#endif
  return scalar;
}

// I2_S is decoded on the fly from the mapping. TQ2_0 and TQ1_0 are repacked for the AVX-512
// kernels into one compute layout (aligned 64-byte 2-bit code parts, float scales in 16-row tiles:
// no per-block scale gathers, no loads across cache lines), and the file's pages are dropped
// afterwards. For TQ2_0 that is the same bytes + 3%; TQ1_0 (1.69 bit/weight) grows to 2.06
// bit/weight (x1.22), because its base-3 digits cost ~3.6x the vector operations of 2-bit codes
// and its GEMV is compute-bound at ~6 GB/s per core (docs/performance.md, "TQ1_0").
void prepare_for_kernels(TernaryWeights& w) {
  const bool tq = w.type == TensorType::TQ2_0 || w.type == TensorType::TQ1_0;
  if (!tq || w.packed_codes || selected_isa() != Isa::avx512 || !simd_handles(w)) return;
#if defined(__x86_64__) || defined(__i386__)
  repack_tq_2bit(w);
  if (w.source) {
    const int64_t block_bytes = traits(w.type).type_size;
    w.source->advise_dont_need(reinterpret_cast<const std::byte*>(w.data),
                               static_cast<size_t>(w.n * (w.k / 256) * block_bytes));
  }
#endif
}

void q8k_sub_block_sums(const QuantizedActs& a, int32_t* out) {
  const int64_t n = a.n_tokens * (a.k / 32);
  const int8_t* q = a.q.data();
  for (int64_t i = 0; i < n; ++i, q += 32) {
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) sum += q[j];
    out[i] = sum;
  }
}

#if defined(__x86_64__) || defined(__i386__)
void repack_tq_2bit(TernaryWeights& w) {
  constexpr int64_t kTile = kRowTile;
  const bool tq1 = w.type == TensorType::TQ1_0;
  const int64_t block_bytes = traits(w.type).type_size;
  const int64_t nb = w.k / 256;
  const int64_t tiles = (w.n + kTile - 1) / kTile;
  const size_t code_bytes = static_cast<size_t>(w.n * nb * 64);
  const size_t scale_bytes = static_cast<size_t>(tiles * nb * kTile) * sizeof(float);
  std::shared_ptr<uint8_t[]> storage(new uint8_t[code_bytes + scale_bytes + 128]);
  auto* codes = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(storage.get()) + 63) &
                                           ~uintptr_t{63});
  auto* scales = reinterpret_cast<float*>(codes + ((code_bytes + 63) & ~size_t{63}));
  std::memset(scales, 0, scale_bytes);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < w.n; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* block = w.data + (r * nb + b) * block_bytes;
      uint8_t* dst = codes + (r * nb + b) * 64;
      if (tq1) {
        tq1_block_to_codes_avx512(block, dst);  // repacking happens only on the AVX-512 set
      } else {
        std::memcpy(dst, block, 64);
      }
      scales[((r / kTile) * nb + b) * kTile + r % kTile] = fp16_to_fp32(
          static_cast<uint16_t>(block[block_bytes - 2] | (block[block_bytes - 1] << 8)));
    }
  }
  w.packed_codes = codes;
  w.packed_scales = scales;
  w.packed_storage = std::move(storage);
}
#endif

void bitlinear(const TernaryWeights& w, const float* x, int64_t n_tokens, float* y,
               QuantizedActs& scratch, int n_threads, SumOrder order) {
  bitlinear_with(kernel_set(selected_isa()), w, x, n_tokens, y, scratch, n_threads, order);
}

void bitlinear_group(std::span<const TernaryWeights* const> ws, const float* x, int64_t n_tokens,
                     std::span<float* const> ys, QuantizedActs& scratch, int n_threads,
                     SumOrder order) {
  if (ws.empty()) return;
  if (ws.size() != ys.size()) {
    throw Error(ErrorCategory::internal, "bitlinear_group: " + std::to_string(ws.size()) +
                                             " weights but " + std::to_string(ys.size()) +
                                             " outputs");
  }
  for (const TernaryWeights* w : ws) {
    if (w->k != ws[0]->k || w->type != ws[0]->type) {
      throw Error(ErrorCategory::internal, "bitlinear_group: weights differ in k or type");
    }
  }
  const KernelSet& kernels = kernel_set(selected_isa());
  kernels.quantize_acts(act_quant_for(ws[0]->type), x, n_tokens, ws[0]->k, scratch);
  scratch.order = order;
  constexpr size_t kMaxGroup = 4;
  int64_t first_tile[kMaxGroup + 1] = {0};
  if (ws.size() > kMaxGroup) throw Error(ErrorCategory::internal, "bitlinear_group: too many");
  for (size_t i = 0; i < ws.size(); ++i) {
    first_tile[i + 1] = first_tile[i] + (ws[i]->n + kRowTile - 1) / kRowTile;
  }
  const int64_t tiles = first_tile[ws.size()];
  const int threads =
      static_cast<int>(std::clamp<int64_t>(n_threads, 1, std::max<int64_t>(tiles, 1)));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = tiles * t / threads;
    const int64_t end = tiles * (t + 1) / threads;
    for (size_t i = 0; i < ws.size(); ++i) {  // this thread's tiles of matrix i
      const int64_t lo = std::max(begin, first_tile[i]) - first_tile[i];
      const int64_t hi = std::min(end, first_tile[i + 1]) - first_tile[i];
      if (lo >= hi) continue;
      const TernaryWeights& w = *ws[i];
      kernels.matmul(w, scratch, ys[i], lo * kRowTile, std::min(w.n, hi * kRowTile));
    }
  }
}

void bitlinear_with(const KernelSet& kernels, const TernaryWeights& w, const float* x,
                    int64_t n_tokens, float* y, QuantizedActs& scratch, int n_threads,
                    SumOrder order) {
  kernels.quantize_acts(act_quant_for(w.type), x, n_tokens, w.k, scratch);
  scratch.order = order;
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
