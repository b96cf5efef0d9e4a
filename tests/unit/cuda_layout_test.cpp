// The CUDA backend's host-side parts on any machine: the device weight layout and the dot products
// the kernels run (backends/cuda/lane_dot.hpp), held to the scalar oracle bit for bit.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cuda/lane_dot.hpp"
#include "backends/cuda/ternary_layout.hpp"
#include "bitnet/error.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels_test_util.hpp"

namespace bitnet {
namespace {

using cuda::TernaryDeviceLayout;

struct Case {
  TensorType type;
  bool scrambled;  // every code pattern, TQ2_0's unused code 3 included
};

class CudaLayoutTest : public testing::TestWithParam<Case> {};

TEST(CudaLaneDot, Dot4AndCodeExpansion) {
  // Signed bytes: (-1)*(-128) + 2*127 + 0 + 3*(-1) = 128 + 254 - 3.
  const int32_t a = static_cast<int32_t>(0x030002ffu);  // bytes -1, 2, 0, 3
  const int32_t b = static_cast<int32_t>(0xff007f80u);  // bytes -128, 127, 0, -1
  EXPECT_EQ(cuda::dot4(a, b, 5), 5 + 128 + 254 - 3);
  EXPECT_EQ(cuda::expand_codes(0b11100100u), 0x03020100);
}

TEST_P(CudaLayoutTest, RepackedMatmulIsBitIdenticalToTheOracle) {
  const Case c = GetParam();
  std::mt19937 rng(1234);
  const int64_t n = 24, k = 768, tokens = 5;
  const auto m = test::random_ternary(c.type, n, k, rng, c.scrambled);
  const TernaryDeviceLayout layout = cuda::repack_for_device(m.w, "blk.0.attn_q.weight");
  EXPECT_EQ(layout.blocks_per_row, 3);
  EXPECT_EQ(layout.codes.size(), static_cast<size_t>(n * k / 4));
  EXPECT_EQ(layout.block_scales.size(),
            c.type == TensorType::I2_S ? 0u : static_cast<size_t>(n * 3));

  const auto x = test::random_activations(tokens, k, rng);
  kernels::QuantizedActs acts;
  kernels::quantize_acts_ref(kernels::act_quant_for(c.type), x.data(), tokens, k, acts);
  for (const auto order : {kernels::SumOrder::reference, kernels::SumOrder::blocks}) {
    acts.order = order;
    std::vector<float> want(static_cast<size_t>(tokens * n)), got(want.size(), -1.0f);
    kernels::ternary_matmul_ref(m.w, acts, want.data(), 0, n);
    cuda::matmul_on_host(layout, acts, got.data());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
          << to_string(c.type) << " output " << i << ": " << got[i] << " vs " << want[i];
    }
  }
  // Integer sums per block, exactly the oracle's.
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t t = 0; t < tokens; ++t) {
      int32_t want[3] = {};
      kernels::ternary_row_dot_blocks_ref(m.w, r, acts.row(t), want);
      int32_t got_total = 0;
      for (int b = 0; b < 3; ++b) {
        const int32_t got = cuda::block_dot(layout.row_codes(r) + b * cuda::kBlockBytes,
                                            acts.row(t) + b * cuda::kBlock);
        if (c.type != TensorType::I2_S) {
          ASSERT_EQ(got, want[b]) << "row " << r << " token " << t << " block " << b;
        }
        got_total += got;
      }
      if (c.type == TensorType::I2_S) {
        ASSERT_EQ(got_total, want[0]) << "row " << r << " token " << t;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, CudaLayoutTest,
    testing::Values(Case{TensorType::I2_S, false}, Case{TensorType::I2_S, true},
                    Case{TensorType::TQ2_0, false}, Case{TensorType::TQ2_0, true},
                    Case{TensorType::TQ1_0, false}, Case{TensorType::TQ1_0, true}),
    [](const testing::TestParamInfo<Case>& param) {
      return std::string(to_string(param.param.type)) + (param.param.scrambled ? "_scrambled" : "");
    });

TEST(CudaLayout, RowsThatAreNotWholeBlocksAreRefusedByName) {
  std::mt19937 rng(7);
  const auto m = test::random_ternary(TensorType::I2_S, 4, 128, rng);
  try {
    cuda::repack_for_device(m.w, "blk.3.ffn_down.weight");
    FAIL() << "expected Error(model)";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::model);
    EXPECT_NE(std::string(e.what()).find("blk.3.ffn_down.weight: 128 inputs"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace bitnet
