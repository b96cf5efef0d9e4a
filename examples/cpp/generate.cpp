// The smallest useful program on the C++ API: load a model, stream a greedy continuation of a
// prompt to stdout, print the speed.
//   generate MODEL.gguf [PROMPT] [N_TOKENS]
#include <bitnet/bitnet.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [PROMPT] [N_TOKENS]\n", argv[0]);
    return 2;
  }
  const std::string prompt = argc > 2 ? argv[2] : "Hello";
  try {
    const auto model = bitnet::Model::load(argv[1]);
    const auto& info = model.info();
    std::fprintf(stderr, "%s: %s, %.1f M parameters, %s (%.2f bits/weight)\n", argv[1],
                 info.arch.c_str(), info.n_params / 1e6, info.quantization.c_str(),
                 info.bits_per_weight);

    bitnet::EngineConfig engine_config;
    engine_config.n_ctx = 512;
    engine_config.n_threads = 1;
    bitnet::Engine engine(model, engine_config);
    auto config = bitnet::GenerationConfig::greedy();
    config.max_new_tokens = argc > 3 ? std::atoi(argv[3]) : 16;

    std::fputs(prompt.c_str(), stdout);
    const auto result = engine.generate_stream(prompt, config, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;  // false would stop the generation
    });
    std::fprintf(stderr, "\n[%d tokens, %s; %.1f ms to the first token, %.1f tokens/s]\n",
                 result.metrics.generated_tokens, bitnet::to_string(result.finish_reason),
                 result.metrics.time_to_first_token_ms, result.metrics.generation_tokens_per_s);
  } catch (const bitnet::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", bitnet::to_string(e.category()), e.what());
    return 1;
  }
  return 0;
}
