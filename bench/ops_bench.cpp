// The forward pass's small ops per kernel set (scalar = the ops_ref oracle) on the BitNet b1.58
// 2B-4T shapes, one thread: SiLU x up and ReLU^2 x up over one token's n_ff = 6912 values, softmax
// over 128 and 1024 scores, RMSNorm over n_embd = 2560 and n_ff, RoPE on 20 heads of 128, and exp.
// Counter: values/s.
//   build/bin/ops_bench --benchmark_filter='rms_norm'
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_ref.hpp"

namespace {

using namespace bitnet::kernels;

std::vector<float> normal_values(int64_t n, float spread, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = normal(rng);
  return v;
}

bool skip_unsupported(benchmark::State& state, Isa isa) {
  if (isa_supported(isa)) return false;
  state.SkipWithError("ISA not supported by this CPU");
  return true;
}

void set_rate(benchmark::State& state, int64_t values) {
  state.counters["values/s"] =
      benchmark::Counter(static_cast<double>(values) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

void bm_silu_mul(benchmark::State& state, Isa isa, bool relu2) {
  if (skip_unsupported(state, isa)) return;
  const OpsKernels& k = ops_kernels(isa);
  const int64_t n = state.range(0);
  const auto gate0 = normal_values(n, 2.0f, 1);
  const auto up = normal_values(n, 1.0f, 2);
  std::vector<float> gate = gate0;
  for (auto _ : state) {
    // Re-running on its own output would drift into a few saturated values; the copy costs little.
    std::copy(gate0.begin(), gate0.end(), gate.begin());
    (relu2 ? k.relu2_mul : k.silu_mul)(gate.data(), up.data(), n);
    benchmark::DoNotOptimize(gate.data());
  }
  set_rate(state, n);
}

void bm_softmax(benchmark::State& state, Isa isa) {
  if (skip_unsupported(state, isa)) return;
  const OpsKernels& k = ops_kernels(isa);
  const int64_t n = state.range(0);
  const auto scores0 = normal_values(n, 4.0f, 3);
  std::vector<float> scores = scores0;
  for (auto _ : state) {
    std::copy(scores0.begin(), scores0.end(), scores.begin());
    k.softmax_scaled(scores.data(), n, 0.088388346f);
    benchmark::DoNotOptimize(scores.data());
  }
  set_rate(state, n);
}

void bm_rms_norm(benchmark::State& state, Isa isa) {
  if (skip_unsupported(state, isa)) return;
  const OpsKernels& k = ops_kernels(isa);
  const int64_t n = state.range(0);
  const auto x = normal_values(n, 1.0f, 4);
  const auto w = normal_values(n, 1.0f, 5);
  std::vector<float> y(static_cast<size_t>(n));
  for (auto _ : state) {
    k.rms_norm(x.data(), w.data(), n, 1e-5f, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_rate(state, n);
}

void bm_rope(benchmark::State& state, Isa isa) {
  if (skip_unsupported(state, isa)) return;
  const OpsKernels& k = ops_kernels(isa);
  const int64_t heads = 20, head_dim = 128;
  std::vector<float> cache(head_dim);
  rope_cache_ref(77.0f, head_dim, 500000.0f, 1.0f, cache.data());
  auto x = normal_values(heads * head_dim, 1.0f, 6);
  for (auto _ : state) {
    k.rope_neox(x.data(), heads, head_dim, head_dim, cache.data());
    benchmark::DoNotOptimize(x.data());
  }
  set_rate(state, heads * head_dim);
}

void bm_exp(benchmark::State& state, Isa isa) {
  if (skip_unsupported(state, isa)) return;
  const OpsKernels& k = ops_kernels(isa);
  const int64_t n = state.range(0);
  const auto x = normal_values(n, 10.0f, 7);
  std::vector<float> y(static_cast<size_t>(n));
  for (auto _ : state) {
    k.exp(x.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  set_rate(state, n);
}

void register_all() {
  for (Isa isa : built_isas()) {
    const std::string s(to_string(isa));
    benchmark::RegisterBenchmark(("silu_mul/" + s).c_str(), bm_silu_mul, isa, false)->Arg(6912);
    benchmark::RegisterBenchmark(("relu2_mul/" + s).c_str(), bm_silu_mul, isa, true)->Arg(6912);
    benchmark::RegisterBenchmark(("softmax/" + s).c_str(), bm_softmax, isa)->Arg(128)->Arg(1024);
    benchmark::RegisterBenchmark(("rms_norm/" + s).c_str(), bm_rms_norm, isa)->Arg(2560)->Arg(6912);
    benchmark::RegisterBenchmark(("rope_neox/" + s).c_str(), bm_rope, isa);
    benchmark::RegisterBenchmark(("exp/" + s).c_str(), bm_exp, isa)->Arg(4096);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
