#include "model/numerics.hpp"

#include "kernels/cpu_features.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet {

float dot_f16(DotOrder order, const uint16_t* w, const float* x, int64_t n, bool x_f16_exact) {
  switch (order) {
    case DotOrder::VecDot:
      return kernels::dot_f16_vecdot(w, x, n);
    case DotOrder::Lanes16:
      return x_f16_exact ? kernels::dot_f16_lanes16_exact(w, x, n)
                         : kernels::dot_f16_lanes16(w, x, n);
    case DotOrder::Plain:
      break;
  }
  return kernels::dot_f16_plain(w, x, n);
}

void dot_f16_rows(DotOrder order, const uint16_t* w, int64_t w_stride, int n_rows, const float* x,
                  int64_t n, bool x_f16_exact, float* out) {
  switch (order) {
    case DotOrder::VecDot:
      return kernels::dot_f16_vecdot_rows(w, w_stride, n_rows, x, n, out);
    case DotOrder::Lanes16:
      // The SIMD lanes16 serves lanes16_exact (its fma is exact then); the scalar set's exact
      // definition differs from its fma emulation, so it takes the one-row path.
      if (!x_f16_exact || kernels::selected_isa() != kernels::Isa::scalar) {
        return kernels::dot_f16_lanes16_rows(w, w_stride, n_rows, x, n, out);
      }
      break;
    case DotOrder::Plain:
      break;
  }
  for (int i = 0; i < n_rows; ++i) {
    out[i] = dot_f16(order, w + i * w_stride, x, n, x_f16_exact);
  }
}

BatchNumerics batch_numerics(Numerics mode, const ModelConfig& c, bool f16_kv, int64_t n_tokens) {
  BatchNumerics b;
  if (mode == Numerics::Fast) {
    b.round_q_f16 = f16_kv;
    b.kq = DotOrder::VecDot;
    b.round_probs_f16 = f16_kv;
    b.pv = DotOrder::VecDot;
    b.round_hidden_f16 = true;
    b.head = DotOrder::VecDot;
    b.ternary = kernels::SumOrder::blocks;
    b.pad_per_row = true;
    return b;
  }
  b.round_q_f16 = f16_kv;
  const bool bitnet_cpp = c.weight_type == TensorType::I2_S;
  const bool tinyblas = n_tokens >= 2;
  const bool head_tinyblas = tinyblas && c.n_embd % 16 == 0;
  if (bitnet_cpp) {
    b.kq = DotOrder::VecDot;
    b.round_probs_f16 = !tinyblas;
    b.pv = tinyblas ? DotOrder::Lanes16 : DotOrder::VecDot;
    b.round_hidden_f16 = !head_tinyblas;
    b.head = head_tinyblas ? DotOrder::Lanes16 : DotOrder::VecDot;
  } else {
    b.kq = tinyblas && c.head_dim % 16 == 0 ? DotOrder::Lanes16 : DotOrder::VecDot;
    b.round_probs_f16 = true;
    b.pv = tinyblas ? DotOrder::Lanes16 : DotOrder::VecDot;
    b.round_hidden_f16 = true;
    b.head = head_tinyblas ? DotOrder::Lanes16 : DotOrder::VecDot;
  }
  return b;
}

}  // namespace bitnet
