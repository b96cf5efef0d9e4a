// BitLinear kernels per ISA on the BitNet b1.58 2B-4T shapes: GEMV (1 token, decode), GEMM8 (an
// 8-token continuous-batching decode step) and GEMM128 (prefill), 1 and 2 threads. Counters:
// weight_GB/s = bytes of ternary weights streamed per second; GMAC/s = n*k*tokens multiply-adds per
// second. For GEMV the weights rotate through copies totalling more than the L3 cache, so the
// figure is the DRAM-streaming one.
//   build/bench/kernels_bench --benchmark_filter='TQ2_0/avx512/gemv'
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/bitlinear.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/f16_gemv.hpp"
#include "kernels/head_gemv.hpp"
#include "kernels/ternary_kernels.hpp"
#include "quant/dequantize.hpp"
#include "quant/tensor_type.hpp"

namespace {

using namespace bitnet;
using namespace bitnet::kernels;

struct Shape {
  const char* name;  // out x in
  int64_t n;
  int64_t k;
};
// q/o projection, k/v projection, gate/up, down.
constexpr Shape kShapes[] = {{"2560x2560", 2560, 2560},
                             {"640x2560", 640, 2560},
                             {"6912x2560", 6912, 2560},
                             {"2560x6912", 2560, 6912}};

// Bytes of weight copies the GEMV rotates through: > L3 (32 MiB) several times over by default;
// BITNET_BENCH_STREAM_MB=0 keeps one copy (cache-resident: the kernel's compute bound).
int64_t stream_bytes() {
  const char* env = std::getenv("BITNET_BENCH_STREAM_MB");
  return env ? std::atoll(env) << 20 : int64_t{192} << 20;
}

std::vector<uint8_t> random_tensor(TensorType type, int64_t n, int64_t k, std::mt19937& rng) {
  std::vector<float> values(static_cast<size_t>(n * k));
  std::uniform_int_distribution<int> trit(-1, 1);
  for (auto& v : values) v = static_cast<float>(trit(rng)) * 0.25f;
  std::vector<uint8_t> bytes(static_cast<size_t>(*tensor_nbytes(type, n * k, k)));
  quantize_ternary(type, values.data(), bytes.data(), n * k, k);
  return bytes;
}

void run(benchmark::State& state, TensorType type, Isa isa, Shape shape, int64_t tokens,
         int threads) {
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported by this CPU");
    return;
  }
  std::mt19937 rng(1);
  const int64_t weight_bytes = *tensor_nbytes(type, shape.n * shape.k, shape.k);
  // Decode-shaped steps (one token, or a continuous-batching step of a few users' tokens) stream
  // the weights from DRAM; a prefill batch reuses them from cache.
  const int64_t copies = tokens <= 16 ? std::max<int64_t>(1, stream_bytes() / weight_bytes) : 1;
  std::vector<std::vector<uint8_t>> storage;
  std::vector<TernaryWeights> weights;
  storage.push_back(random_tensor(type, shape.n, shape.k, rng));
  for (int64_t c = 1; c < copies; ++c) storage.push_back(storage.front());
  for (auto& s : storage) {
    weights.push_back(TernaryWeights::from_tensor(type, s.data(), shape.k, shape.n));
    prepare_for_kernels(weights.back());
  }
  std::vector<float> x(static_cast<size_t>(tokens * shape.k));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(tokens * shape.n));
  QuantizedActs scratch;
  const KernelSet& kernels = kernel_set(isa);
  size_t next = 0;
  for (auto _ : state) {
    bitlinear_with(kernels, weights[next], x.data(), tokens, y.data(), scratch, threads);
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % weights.size();
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["weight_GB/s"] = benchmark::Counter(
      iters * static_cast<double>(weight_bytes) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["GMAC/s"] = benchmark::Counter(
      iters * static_cast<double>(shape.n * shape.k * tokens) * 1e-9, benchmark::Counter::kIsRate);
}

// The F16 output head of 2B-4T (128256 x 2560, 656 MB: streamed from DRAM on every call), with the
// kernel this process selected (BITNET_CPU).
void run_f16_head(benchmark::State& state, int threads) {
  const int64_t n = 128256, k = 2560;
  std::vector<uint16_t> w(static_cast<size_t>(n * k), 0x3C00), x(static_cast<size_t>(k), 0x3800);
  std::vector<float> y(static_cast<size_t>(n));
  for (auto _ : state) {
    f16_gemv(w.data(), x.data(), n, k, y.data(), threads);
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["weight_GB/s"] = benchmark::Counter(iters * static_cast<double>(n * k * 2) * 1e-9,
                                                     benchmark::Counter::kIsRate);
  state.counters["GMAC/s"] =
      benchmark::Counter(iters * static_cast<double>(n * k) * 1e-9, benchmark::Counter::kIsRate);
}

// The same head quantized (the opt-in --head-type: Q8_0 333 MB, Q6_K 257 MB per call), activation
// quantization included. Random blocks with a valid fp16 scale: only the speed matters here.
void run_quantized_head(benchmark::State& state, TensorType type, int threads) {
  const int64_t n = 128256, k = 2560;
  const int64_t row_bytes = *row_nbytes(type, k);
  const int64_t block_bytes = traits(type).type_size;
  const int64_t scale_at = type == TensorType::Q8_0 ? 0 : block_bytes - 2;
  std::mt19937 rng(1);
  std::vector<uint8_t> bytes(static_cast<size_t>(n * row_bytes));
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto in_block = static_cast<int64_t>(i) % block_bytes;
    bytes[i] = in_block == scale_at ? 0x00 : in_block == scale_at + 1 ? 0x20 : rng() & 0xFF;
  }
  const QuantizedHead head = quantize_head(type, type, bytes.data(), row_bytes, n, k, 2);
  std::vector<float> x(static_cast<size_t>(k));
  std::normal_distribution<float> normal;
  for (auto& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(n));
  HeadActs acts;
  for (auto _ : state) {
    head_gemv(head, x.data(), acts, y.data(), threads);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["weight_GB/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(head.nbytes()) * 1e-9,
      benchmark::Counter::kIsRate);
}

#if defined(__x86_64__) || defined(__i386__)
// Load-time cost of the TQ2_0 repack (prepare_for_kernels with AVX-512), per matrix.
void run_repack(benchmark::State& state, Shape shape) {
  std::mt19937 rng(1);
  const auto bytes = random_tensor(TensorType::TQ2_0, shape.n, shape.k, rng);
  for (auto _ : state) {
    auto w = TernaryWeights::from_tensor(TensorType::TQ2_0, bytes.data(), shape.k, shape.n);
    repack_tq_2bit(w);
    benchmark::DoNotOptimize(w.packed_codes);
  }
  state.counters["file_GB/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(bytes.size()) * 1e-9,
      benchmark::Counter::kIsRate);
}
#endif

void register_all() {
#if defined(__x86_64__) || defined(__i386__)
  benchmark::RegisterBenchmark("TQ2_0/repack/6912x2560", run_repack, kShapes[2])
      ->Unit(benchmark::kMillisecond);
#endif
  for (int threads : {1, 2}) {
    const std::string name = "F16/" + std::string(to_string(selected_isa())) +
                             "/head_gemv/128256x2560/t" + std::to_string(threads);
    benchmark::RegisterBenchmark(name.c_str(), run_f16_head, threads)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    for (TensorType type : {TensorType::Q8_0, TensorType::Q6_K}) {
      const std::string qname = std::string(to_string(type)) + "/" +
                                std::string(to_string(selected_isa())) +
                                "/head_gemv/128256x2560/t" + std::to_string(threads);
      benchmark::RegisterBenchmark(qname.c_str(), run_quantized_head, type, threads)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  for (TensorType type : {TensorType::I2_S, TensorType::TQ2_0, TensorType::TQ1_0}) {
    for (Isa isa : built_isas()) {
      for (const Shape& shape : kShapes) {
        for (int64_t tokens : {int64_t{1}, int64_t{8}, int64_t{128}}) {
          if (isa == Isa::scalar && tokens > 1)
            continue;  // minutes per run; the GEMV shows the ratio
          for (int threads : {1, 2}) {
            const std::string name = std::string(to_string(type)) + "/" +
                                     std::string(to_string(isa)) + "/" +
                                     (tokens == 1 ? "gemv" : "gemm" + std::to_string(tokens)) +
                                     "/" + shape.name + "/t" + std::to_string(threads);
            benchmark::RegisterBenchmark(name.c_str(), run, type, isa, shape, tokens, threads)
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
