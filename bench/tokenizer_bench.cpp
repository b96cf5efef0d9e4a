// Tokenizer throughput on 1 MB of mixed English, code and Unicode text, and vocabulary load time.
// Run: build/bin/tokenizer_bench  (reports bytes_per_second; the aim is >= 10 MB/s on one core).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace {

using bitnet::tokenizer::Tokenizer;

std::string fixture(const std::string& relative) {
  return std::string(BITNET_FIXTURES_DIR) + "/" + relative;
}

// Deterministic 1 MiB of text: paragraphs of English prose, C++/Python code, and multilingual
// Unicode with emoji, in a fixed pseudo-random order (so words repeat as in real text, but
// the mix is not one short cycle).
std::string mixed_text(size_t target_bytes) {
  const std::vector<std::string> chunks = {
      "The quick brown fox jumps over the lazy dog. It's a well-known pangram, isn't it? ",
      "In 2024, researchers trained 1.58-bit models with 2,000,000,000 parameters on 4T tokens.\n",
      "Ternary weights {-1, 0, +1} make matrix multiplication mostly additions and subtractions. ",
      "def forward(self, x):\n    h = self.norm(x)\n    return x + self.mlp(h)  # residual\n\n",
      "for (int i = 0; i < n; ++i) {\n  acc += static_cast<int32_t>(w[i]) * q[i];\n}\n",
      "    if err != nil {\n        return fmt.Errorf(\"load %s: %w\", path, err)\n    }\n",
      "Ünïcödé: naïve café, 日本語のテキスト, Привет мир, مرحبا بالعالم, שלום עולם. ",
      "Emoji: 🦙🚀👍🏽 👨‍👩‍👧 🇺🇸 ✓ €100 — “quoted” text… ",
      "\t\tIndented   with   odd    spacing\r\n\n\n",
      "URLs like https://example.com/path?q=1&lang=en#top and e-mail a.b@example.org. ",
      "Numbers: 3.14159, 2.71828, 1e-5, 0x7FFF, 65536, 1,234,567.89 (approx. 12%). ",
      "한국어 텍스트와 ไทย ภาษา, हिन्दी पाठ, ελληνικά κείμενα, and Ōsaka's ümlauts. ",
  };
  std::mt19937 rng(1234);
  std::string text;
  text.reserve(target_bytes + 256);
  while (text.size() < target_bytes) text += chunks[rng() % chunks.size()];
  return text;
}

const Tokenizer& llama3() {
  static const Tokenizer tok = Tokenizer::from_gguf_path(fixture("tiny-b158-i2s.gguf"));
  return tok;
}
const Tokenizer& llama2() {
  static const Tokenizer tok =
      Tokenizer::from_gguf_path(fixture("tokenizer/llamacpp-tests/ggml-vocab-llama-spm.gguf"));
  return tok;
}

void run_encode(benchmark::State& state, const Tokenizer& tok) {
  const std::string text = mixed_text(1 << 20);
  size_t n_tokens = 0;
  for (auto _ : state) {
    const auto ids = tok.encode(text, true, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

void BM_EncodeLlama3_1MB(benchmark::State& state) { run_encode(state, llama3()); }
void BM_EncodeLlama2_1MB(benchmark::State& state) { run_encode(state, llama2()); }

void BM_DecodeLlama3_1MB(benchmark::State& state) {
  const auto ids = llama3().encode(mixed_text(1 << 20), false, false);
  size_t bytes = 0;
  for (auto _ : state) {
    const auto text = llama3().decode(ids);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

// Loading the 128256-token, 280147-merge LLaMA-3 vocabulary from GGUF metadata (file mapped,
// metadata parsed, indexes built).
void BM_LoadLlama3Gguf(benchmark::State& state) {
  for (auto _ : state) {
    auto tok = Tokenizer::from_gguf_path(fixture("tiny-b158-i2s.gguf"));
    benchmark::DoNotOptimize(tok.n_vocab());
  }
}

void BM_LoadLlama3Json(benchmark::State& state) {
  for (auto _ : state) {
    auto tok = Tokenizer::from_hf_json_path(fixture("tokenizer/llama3-tokenizer.json"));
    benchmark::DoNotOptimize(tok.n_vocab());
  }
}

BENCHMARK(BM_EncodeLlama3_1MB)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeLlama2_1MB)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_DecodeLlama3_1MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadLlama3Gguf)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_LoadLlama3Json)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
