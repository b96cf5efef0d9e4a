// The scalar ops set (the oracles of ops_ref), the per-ISA dispatch and the row-batched forms.
#include "kernels/ops.hpp"

#include <algorithm>

#include "kernels/ops_ref.hpp"

namespace bitnet::kernels {
namespace {

void exp_scalar(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = ggml_expf(x[i]);
}

void silu_mul_scalar(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = silu_ref(gate[i]) * up[i];
}

void relu2_mul_scalar(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = relu2_ref(gate[i]) * up[i];
}

double sum_of_squares_scalar(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  return sum;
}

void rope_neox_scalar(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                      const float* cache) {
  for (int64_t h = 0; h < n_heads; ++h) rope_neox_ref(x + h * head_dim, n_rot, cache);
}

void add_scalar(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = x[i] + acc[i];
}

void scale_scalar(float* y, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) y[i] *= s;
}

// body(r) for r in [0, rows) of n values each, split statically over the threads when the batch
// is big enough to pay for the fork.
template <class Body>
void for_each_row(int64_t rows, int64_t n, int n_threads, const Body& body) {
  if (n_threads <= 1 || rows < 2 || rows * n < kMinValuesToFork) {
    for (int64_t r = 0; r < rows; ++r) body(r);
    return;
  }
  const int threads = static_cast<int>(std::min<int64_t>(n_threads, rows));
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < rows; ++r) body(r);
}

}  // namespace

const OpsKernels& ops_kernels(Isa isa) {
  static const OpsKernels scalar{.isa = Isa::scalar,
                                 .exp = exp_scalar,
                                 .silu_mul = silu_mul_scalar,
                                 .relu2_mul = relu2_mul_scalar,
                                 .softmax_scaled = softmax_scaled_ref,
                                 .rms_norm = rms_norm_ref,
                                 .sum_of_squares = sum_of_squares_scalar,
                                 .rope_neox = rope_neox_scalar,
                                 .add = add_scalar,
                                 .scale = scale_scalar};
#if defined(__x86_64__) || defined(__i386__)
  if (isa == Isa::avx2) return ops_kernels_avx2();
  if (isa == Isa::avx512) return ops_kernels_avx512();
#elif defined(__aarch64__)
  if (isa == Isa::neon || isa == Isa::dotprod) return ops_kernels_neon();
#endif
  (void)isa;
  return scalar;
}

const OpsKernels& ops() {
  static const OpsKernels& selected = ops_kernels(selected_isa());
  return selected;
}

void rms_norm_rows(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y,
                   int n_threads) {
  const OpsKernels& k = ops();
  for_each_row(rows, n, n_threads, [&](int64_t r) { k.rms_norm(x + r * n, w, n, eps, y + r * n); });
}

void silu_mul_rows(float* gate, const float* up, int64_t rows, int64_t n, int n_threads) {
  const OpsKernels& k = ops();
  for_each_row(rows, n, n_threads, [&](int64_t r) { k.silu_mul(gate + r * n, up + r * n, n); });
}

void relu2_mul_rows(float* gate, const float* up, int64_t rows, int64_t n, int n_threads) {
  const OpsKernels& k = ops();
  for_each_row(rows, n, n_threads, [&](int64_t r) { k.relu2_mul(gate + r * n, up + r * n, n); });
}

void add_rows(float* acc, const float* x, int64_t rows, int64_t n, int n_threads) {
  const OpsKernels& k = ops();
  for_each_row(rows, n, n_threads, [&](int64_t r) { k.add(acc + r * n, x + r * n, n); });
}

void scale_rows(float* y, int64_t rows, int64_t n, float s, int n_threads) {
  const OpsKernels& k = ops();
  for_each_row(rows, n, n_threads, [&](int64_t r) { k.scale(y + r * n, n, s); });
}

void rope_neox_rows(float* x, int64_t rows, int64_t row_len, int64_t head_dim, int64_t n_rot,
                    const float* caches, int n_threads) {
  const OpsKernels& k = ops();
  const int64_t n_heads = row_len / head_dim;
  for_each_row(rows, row_len, n_threads, [&](int64_t r) {
    k.rope_neox(x + r * row_len, n_heads, head_dim, n_rot, caches + r * n_rot);
  });
}

void rope_normal_rows(float* x, int64_t rows, int64_t row_len, int64_t head_dim, int64_t n_rot,
                      const float* caches, int n_threads) {
  const int64_t n_heads = row_len / head_dim;
  for_each_row(rows, row_len, n_threads, [&](int64_t r) {
    for (int64_t h = 0; h < n_heads; ++h) {
      rope_normal_ref(x + r * row_len + h * head_dim, n_rot, caches + r * n_rot);
    }
  });
}

void softmax_scaled(float* scores, int64_t n, float scale) {
  ops().softmax_scaled(scores, n, scale);
}

}  // namespace bitnet::kernels
