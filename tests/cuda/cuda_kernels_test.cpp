// The CUDA kernels on a GPU against the scalar oracle, bit for bit (ctest label `cuda`). Without a
// usable device every test skips and says why (the runtime's reason: no driver, no GPU, ...).
#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <vector>

#include "backends/cuda/device_query.hpp"
#include "backends/cuda/ternary_kernels.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels_test_util.hpp"

namespace bitnet {
namespace {

class CudaKernels : public testing::TestWithParam<TensorType> {
 protected:
  void SetUp() override {
    const auto& probe = cuda::probe_runtime();
    if (probe.devices.empty()) GTEST_SKIP() << "no usable CUDA device: " << probe.error;
  }
};

TEST(CudaRuntime, ProbeDescribesTheMachine) {
  const auto& probe = cuda::probe_runtime();
  EXPECT_TRUE(probe.built);
  EXPECT_GT(probe.runtime_version, 0);
  if (probe.devices.empty()) {
    EXPECT_FALSE(probe.error.empty());  // why there is none
  } else {
    for (const auto& d : probe.devices) {
      EXPECT_FALSE(d.name.empty());
      EXPECT_GT(d.total_bytes, 0);
      EXPECT_GE(d.compute_major, 7);
    }
  }
}

TEST_P(CudaKernels, BitLinearMatchesTheOracleBitForBit) {
  const TensorType type = GetParam();
  std::mt19937 rng(99);
  for (const int64_t tokens : {1, 3, 17}) {
    const int64_t n = 300, k = 2560;  // rows not a multiple of a CTA's 16
    const auto m = test::random_ternary(type, n, k, rng, tokens == 3);
    const auto x = test::random_activations(tokens, k, rng);
    kernels::QuantizedActs want_acts;
    kernels::quantize_acts_ref(kernels::act_quant_for(type), x.data(), tokens, k, want_acts);
    for (const auto order : {kernels::SumOrder::reference, kernels::SumOrder::blocks}) {
      const auto got = cuda::bitlinear_on_device(m.w, x.data(), tokens, order);
      ASSERT_EQ(got.q, want_acts.q) << "quantized activations, " << tokens << " tokens";
      const auto& want_sums =
          want_acts.rule == kernels::ActQuant::Q8K ? want_acts.bsum : want_acts.qsum;
      ASSERT_EQ(got.sums, want_sums);
      ASSERT_EQ(got.scale.size(), want_acts.scale.size());
      for (size_t i = 0; i < got.scale.size(); ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(got.scale[i]),
                  std::bit_cast<uint32_t>(want_acts.scale[i]));
      want_acts.order = order;
      std::vector<float> want(static_cast<size_t>(tokens * n));
      kernels::ternary_matmul_ref(m.w, want_acts, want.data(), 0, n);
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got.y[i]), std::bit_cast<uint32_t>(want[i]))
            << to_string(type) << " output " << i << " of " << tokens << " tokens: " << got.y[i]
            << " vs " << want[i];
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaKernels,
                         testing::Values(TensorType::I2_S, TensorType::TQ2_0, TensorType::TQ1_0),
                         [](const testing::TestParamInfo<TensorType>& param) {
                           return std::string(to_string(param.param));
                         });

}  // namespace
}  // namespace bitnet
