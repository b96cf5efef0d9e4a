// n_gpu_layers without a GPU: how the request is resolved (flag, BITNET_GPU_LAYERS, 0), how the
// offload plan cuts it for each machine the seed's compatibility matrix names, and that every front
// end runs on the CPU and says so once instead of failing.
#include "model/offload.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "model/context.hpp"
#include "model/model.hpp"
#include "test_support.hpp"

namespace bitnet {
namespace {

// Sets or unsets BITNET_GPU_LAYERS for one scope.
class GpuLayersEnv {
 public:
  explicit GpuLayersEnv(const char* value) {
    if (const char* old = std::getenv("BITNET_GPU_LAYERS")) saved_ = old;
    if (value) {
      ::setenv("BITNET_GPU_LAYERS", value, 1);
    } else {
      ::unsetenv("BITNET_GPU_LAYERS");
    }
  }
  ~GpuLayersEnv() {
    if (saved_) {
      ::setenv("BITNET_GPU_LAYERS", saved_->c_str(), 1);
    } else {
      ::unsetenv("BITNET_GPU_LAYERS");
    }
  }
  GpuLayersEnv(const GpuLayersEnv&) = delete;
  GpuLayersEnv& operator=(const GpuLayersEnv&) = delete;

 private:
  std::optional<std::string> saved_;
};

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(GpuLayersEnvRules, WholeNumbersMinusOneAndNegatives) {
  std::string warning;
  EXPECT_EQ(parse_gpu_layers_env("", warning), std::nullopt);
  EXPECT_TRUE(warning.empty());
  EXPECT_EQ(parse_gpu_layers_env("0", warning), 0);
  EXPECT_EQ(parse_gpu_layers_env("12", warning), 12);
  EXPECT_EQ(parse_gpu_layers_env("-1", warning), -1);
  EXPECT_TRUE(warning.empty());
  // Negative other than -1 reads as 0, without a warning (the seed's rule).
  EXPECT_EQ(parse_gpu_layers_env("-2", warning), 0);
  EXPECT_EQ(parse_gpu_layers_env("-99999999999999999999", warning), 0);
  EXPECT_TRUE(warning.empty());
  // Beyond int: all layers.
  EXPECT_EQ(parse_gpu_layers_env("99999999999999999999", warning), -1);
  for (const char* bad : {"lots", "1.5", "12abc", " 3", "0x10", "-"}) {
    EXPECT_EQ(parse_gpu_layers_env(bad, warning), std::nullopt) << bad;
    EXPECT_NE(warning.find("ignoring BITNET_GPU_LAYERS=\"" + std::string(bad) + "\""),
              std::string::npos)
        << warning;
  }
}

TEST(GpuLayersEnvRules, ExplicitBeatsEnvironmentBeatsZero) {
  {
    const GpuLayersEnv env(nullptr);
    EXPECT_EQ(resolve_gpu_layers(std::nullopt), 0);
    EXPECT_EQ(resolve_gpu_layers(7), 7);
  }
  {
    const GpuLayersEnv env("5");
    EXPECT_EQ(resolve_gpu_layers(std::nullopt), 5);
    EXPECT_EQ(resolve_gpu_layers(0), 0);  // an explicit 0 wins over the variable
    EXPECT_EQ(resolve_gpu_layers(-1), -1);
  }
  {
    const GpuLayersEnv env("abc");
    testing::internal::CaptureStderr();
    EXPECT_EQ(resolve_gpu_layers(std::nullopt), 0);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(count(err, "ignoring BITNET_GPU_LAYERS=\"abc\""), 1) << err;
    testing::internal::CaptureStderr();
    EXPECT_EQ(resolve_gpu_layers(3), 3);  // not read at all when the flag is given
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  }
}

// A machine as plan_offload sees it.
GpuInventory machine(bool built, bool runs_layers, int n_devices, int64_t free_bytes,
                     std::string unavailable = "") {
  GpuInventory g;
  g.backend_built = built;
  g.runs_layers = runs_layers;
  g.n_devices = n_devices;
  g.unavailable = std::move(unavailable);
  g.device_name = n_devices > 0 ? "cuda:0" : "";
  g.free_bytes = free_bytes;
  return g;
}

TEST(OffloadPlan, ThisBuildAndMachine) {
  const GpuInventory here = gpu_inventory();
#if BITNET_HAVE_CUDA
  EXPECT_TRUE(here.backend_built);
  if (here.n_devices == 0) {
    EXPECT_FALSE(here.unavailable.empty());  // the runtime's reason
  }
#else
  EXPECT_FALSE(here.backend_built);
  EXPECT_EQ(here.n_devices, 0);
#endif
  EXPECT_FALSE(here.runs_layers);  // the CUDA layer loop is not written yet
  const auto plan = plan_offload(-1, 30, 1 << 20, here);
  EXPECT_EQ(plan.gpu_layers, 0);
  EXPECT_NE(plan.fallback.find("all 30 layers run on the CPU"), std::string::npos) << plan.fallback;
}

TEST(OffloadPlan, EveryRowOfTheCompatibilityMatrix) {
  // No CUDA in the build: everything on the CPU, said once.
  const GpuInventory none = machine(false, false, 0, 0);
  auto plan = plan_offload(-1, 30, 1 << 20, none);
  EXPECT_EQ(plan.gpu_layers, 0);
  EXPECT_EQ(plan.describe(), "CPU only");
  EXPECT_NE(plan.fallback.find("no CUDA backend"), std::string::npos) << plan.fallback;
  EXPECT_NE(plan.fallback.find("all 30 layers run on the CPU"), std::string::npos);
  // Nothing asked: nothing said.
  EXPECT_TRUE(plan_offload(0, 30, 1 << 20, none).fallback.empty());
  EXPECT_TRUE(plan_offload(-5, 30, 1 << 20, none).fallback.empty());

  // Built with CUDA, no device or a driver/runtime mismatch: the runtime's reason is passed on.
  plan = plan_offload(4, 30, 1 << 20,
                      machine(true, true, 0, 0,
                              "cudaErrorInsufficientDriver: CUDA driver version "
                              "is insufficient for CUDA runtime version"));
  EXPECT_EQ(plan.gpu_layers, 0);
  EXPECT_NE(plan.fallback.find("no CUDA device is available (cudaErrorInsufficientDriver"),
            std::string::npos)
      << plan.fallback;

  // A device, but a backend that cannot run layers yet: on the CPU, and the device is named.
  const int64_t mib = 1 << 20;
  plan = plan_offload(-1, 30, 100 * mib, machine(true, false, 1, 100000 * mib));
  EXPECT_EQ(plan.gpu_layers, 0);
  EXPECT_NE(plan.fallback.find("no layer loop yet (found cuda:0)"), std::string::npos)
      << plan.fallback;

  // A device with room for 10 layers of 100 MiB: 10 on the GPU, 20 on the CPU.
  plan = plan_offload(-1, 30, 100 * mib, machine(true, true, 1, 1000 * mib + 5));
  EXPECT_EQ(plan.gpu_layers, 10);
  EXPECT_EQ(plan.device, "cuda:0");
  EXPECT_EQ(plan.describe(), "10/30 layers on cuda:0");
  EXPECT_NE(plan.fallback.find("10 layers on the GPU, 20 on the CPU"), std::string::npos)
      << plan.fallback;

  // Enough memory: as asked; above the layer count means all layers.
  const GpuInventory big = machine(true, true, 1, 100000 * mib);
  plan = plan_offload(12, 30, 100 * mib, big);
  EXPECT_EQ(plan.gpu_layers, 12);
  EXPECT_TRUE(plan.fallback.empty());
  plan = plan_offload(99, 30, 100 * mib, big);
  EXPECT_EQ(plan.gpu_layers, 30);
  EXPECT_TRUE(plan.fallback.empty());
  // A device too small for one layer: none there, and no device named.
  plan = plan_offload(-1, 30, 100 * mib, machine(true, true, 1, 50 * mib));
  EXPECT_EQ(plan.gpu_layers, 0);
  EXPECT_EQ(plan.device, "");
  EXPECT_FALSE(plan.fallback.empty());
}

TEST(OffloadPlan, ModelLoadsOnTheCpuAndSaysSoOnce) {
  const std::string path = test::fixture("tiny-bitnet-tq2_0.gguf");
  LoadOptions asked;
  asked.n_gpu_layers = -1;
  testing::internal::CaptureStderr();
  const auto model = Model::load(path, asked);
  ContextOptions copt;
  copt.n_ctx = 16;
  Context ctx(model, copt);
  const std::vector<int32_t> tokens = {1, 2, 3};
  ctx.eval(tokens, false);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, "n_gpu_layers = -1"), 1) << err;
  EXPECT_EQ(model->offload().gpu_layers, 0);
  EXPECT_EQ(model->offload().requested, -1);

  // The same logits as a model loaded for the CPU.
  const auto cpu_model = Model::load(path);
  Context cpu(cpu_model, copt);
  cpu.eval(tokens, false);
  ASSERT_EQ(ctx.last_logits().size(), cpu.last_logits().size());
  EXPECT_TRUE(
      std::equal(ctx.last_logits().begin(), ctx.last_logits().end(), cpu.last_logits().begin()));
}

// The CLI's stderr and stdout together.
std::string cli_output(const std::string& env, const std::string& args, int* status) {
  const std::string cmd = env + " " + test::cli_command() + " " + args + " 2>&1";
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  while (const size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  *status = ::pclose(pipe);
  return out;
}

// Why this build runs every layer on the CPU: no backend, or (with one) no device on this machine
// or no layer loop yet.
#if BITNET_HAVE_CUDA
const char* const kWhyNotOnTheGpu = "layers run on the CPU";
const char* const kInspectGpuLine = "GPU:           cuda backend";
#else
const char* const kWhyNotOnTheGpu = "this build has no CUDA backend";
const char* const kInspectGpuLine = "GPU:           none (this build has no CUDA backend";
#endif

TEST(OffloadCli, EveryFrontEndRunsOnTheCpuAndSaysSoOnce) {
  const std::string model = test::fixture("tiny-bitnet-tq2_0.gguf");
  const std::string clean = "env -u BITNET_GPU_LAYERS";
  int status = -1;
  std::string out = cli_output(clean, "run -m " + model + " -p hi -n 2 --temp 0 -ngl 99", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(count(out, "n_gpu_layers = 99, but "), 1) << out;
  EXPECT_EQ(count(out, kWhyNotOnTheGpu), 1) << out;

  out = cli_output(
      clean, "eval -m " + model + " --tokens 1,2 --last -o /dev/null --n-gpu-layers -1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(count(out, "n_gpu_layers = -1"), 1) << out;

  out = cli_output(clean, "bench -m " + model + " -p 4 -n 2 -r 1 -ngl 3 --json", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(count(out, "n_gpu_layers = 3"), 1) << out;
  EXPECT_NE(out.find("\"n_gpu_layers\": 3"), std::string::npos) << out;
  EXPECT_NE(out.find("\"gpu_layers_offloaded\": 0"), std::string::npos) << out;

  // The environment variable when no flag is given; an explicit 0 beats it.
  out = cli_output("BITNET_GPU_LAYERS=2", "bench -m " + model + " -p 4 -n 0 -r 1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(count(out, "n_gpu_layers = 2"), 1) << out;
  EXPECT_NE(out.find("offload: CPU only"), std::string::npos) << out;
  out = cli_output("BITNET_GPU_LAYERS=2", "bench -m " + model + " -p 4 -n 0 -r 1 -ngl 0", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out.find("n_gpu_layers ="), std::string::npos) << out;
  out = cli_output("BITNET_GPU_LAYERS=many", "bench -m " + model + " -p 4 -n 0 -r 1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(count(out, "ignoring BITNET_GPU_LAYERS=\"many\""), 1) << out;

  // An explicit count below -1 is a usage error, not a silent 0.
  out = cli_output(clean, "run -m " + model + " -p hi -n 1 -ngl -2", &status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("n-gpu-layers"), std::string::npos) << out;

  out = cli_output(clean, "inspect " + model, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find(kInspectGpuLine), std::string::npos) << out;
}

}  // namespace
}  // namespace bitnet
