// What tracing costs: BLAKE3 over one logits row, and recording one decode token of a 2B-4T-shaped
// model (30 layers, n_embd 2560, n_kv 640, n_ff 6912, 128256 logits) without raw data.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "trace/blake3.hpp"
#include "trace/trace_recorder.hpp"

namespace {

void BM_Blake3(benchmark::State& state) {
  std::vector<uint8_t> bytes(static_cast<size_t>(state.range(0)));
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31);
  for (auto _ : state) benchmark::DoNotOptimize(bitnet::blake3_hex(bytes.data(), bytes.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Blake3)->Arg(2560 * 4)->Arg(6912 * 4)->Arg(128256 * 4);

void BM_TraceOneDecodeToken2B(benchmark::State& state) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("bitnet-trace-bench-" + std::to_string(::getpid()));
  std::vector<float> values(128256);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) * 0.01f;
  {
    bitnet::TraceRecorder recorder(dir, /*save_data=*/false);
    const auto observe = recorder.observer();
    int64_t pos = 0;
    for (auto _ : state) {
      using bitnet::Stage;
      observe({-1, Stage::embeddings, pos, 1, 2560, values.data()});
      for (int layer = 0; layer < 30; ++layer) {
        for (int s = static_cast<int>(Stage::attn_norm); s <= static_cast<int>(Stage::layer_out);
             ++s) {
          const auto stage = static_cast<Stage>(s);
          const int64_t cols = (stage == Stage::k_proj || stage == Stage::v_proj)           ? 640
                               : (stage >= Stage::ffn_gate && stage <= Stage::ffn_sub_norm) ? 6912
                                                                                            : 2560;
          observe({layer, stage, pos, 1, cols, values.data()});
        }
      }
      observe({-1, Stage::final_norm, pos, 1, 2560, values.data()});
      observe({-1, Stage::logits, pos, 1, 128256, values.data()});
      ++pos;
    }
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TraceOneDecodeToken2B)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
