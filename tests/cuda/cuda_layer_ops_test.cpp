// The layer loop's small device operations against kernels/ops_ref.hpp (ctest label `cuda`).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "backends/cuda/device_query.hpp"
#include "backends/cuda/layer_ops.hpp"
#include "backends/cuda/ternary_kernels.hpp"
#include "kernels/ops_ref.hpp"

namespace bitnet {
namespace {

class CudaLayerOps : public testing::Test {
 protected:
  void SetUp() override {
    const auto& probe = cuda::probe_runtime();
    if (probe.devices.empty()) GTEST_SKIP() << "no usable CUDA device: " << probe.error;
  }
  static cuda::DeviceBuffer upload(const std::vector<float>& v) {
    cuda::DeviceBuffer b(v.size() * sizeof(float));
    b.upload(v.data(), b.size());
    return b;
  }
  static std::vector<float> download(const cuda::DeviceBuffer& b, size_t count) {
    std::vector<float> v(count);
    b.download(v.data(), count * sizeof(float));
    return v;
  }
};

std::vector<float> random_floats(size_t n, std::mt19937& rng, float spread) {
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

TEST_F(CudaLayerOps, RmsNormIsTheOracleToTheLastBitOrOneUlp) {
  std::mt19937 rng(5);
  const int64_t rows = 7, n = 2560;
  const auto x = random_floats(static_cast<size_t>(rows * n), rng, 3.0f);
  const auto w = random_floats(static_cast<size_t>(n), rng, 1.0f);
  const auto xd = upload(x), wd = upload(w);
  cuda::DeviceBuffer yd(x.size() * sizeof(float));
  cuda::rms_norm(xd.as<float>(), wd.as<float>(), rows, n, 1e-5f, yd.as<float>(), nullptr);
  const auto got = download(yd, x.size());
  std::vector<float> want(x.size());
  int64_t identical = 0;
  for (int64_t r = 0; r < rows; ++r)
    kernels::rms_norm_ref(x.data() + r * n, w.data(), n, 1e-5f, want.data() + r * n);
  for (size_t i = 0; i < want.size(); ++i) {
    const auto ulps = std::abs(static_cast<int64_t>(std::bit_cast<int32_t>(got[i])) -
                               std::bit_cast<int32_t>(want[i]));
    ASSERT_LE(ulps, 1) << "value " << i << ": " << got[i] << " vs " << want[i];
    identical += ulps == 0;
  }
  EXPECT_GE(identical, static_cast<int64_t>(want.size()) * 99 / 100);
}

TEST_F(CudaLayerOps, Relu2GateAndResidualAddAreExact) {
  std::mt19937 rng(6);
  const size_t count = 6912 * 3 + 5;
  const auto gate = random_floats(count, rng, 2.0f), up = random_floats(count, rng, 2.0f);
  auto gd = upload(gate);
  const auto ud = upload(up);
  cuda::gated_activation(cuda::Gate::relu2, gd.as<float>(), ud.as<float>(),
                         static_cast<int64_t>(count), nullptr);
  cuda::add_in_place(gd.as<float>(), ud.as<float>(), static_cast<int64_t>(count), nullptr);
  const auto got = download(gd, count);
  for (size_t i = 0; i < count; ++i) {
    const float want = kernels::relu2_ref(gate[i]) * up[i] + up[i];
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want)) << i;
  }
}

}  // namespace
}  // namespace bitnet
