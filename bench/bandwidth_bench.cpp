// Memory read bandwidth for the roofline of the decode GEMV: sums a 1 GiB buffer with 1 and 2
// threads (OpenMP, static split), reporting GB/s read.
//   build/bench/bandwidth_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kBytes = size_t{1} << 30;

const std::vector<uint64_t>& buffer() {
  static const std::vector<uint64_t> data = [] {
    std::vector<uint64_t> v(kBytes / sizeof(uint64_t));
    for (size_t i = 0; i < v.size(); ++i) v[i] = i;  // touch every page
    return v;
  }();
  return data;
}

uint64_t sum_range(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c ^= p[i + 2];
    d ^= p[i + 3];
  }
  return a + b + c + d;
}

void BM_ReadBandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const auto& data = buffer();
  const size_t n = data.size();
  for (auto _ : state) {
    uint64_t total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
    for (int t = 0; t < threads; ++t) {
      const size_t begin = n * t / threads, end = n * (t + 1) / threads;
      total += sum_range(data.data() + begin, end - begin);
    }
    benchmark::DoNotOptimize(total);
  }
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kBytes * 1e-9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
