// Calls one BitLinear kernel set `reps` times on one shape and prints nothing but a checksum: the
// program to count instructions with (callgrind on x86, `qemu-aarch64 -one-insn-per-tb -d exec`
// on ARM). Running it with reps R and 2R and subtracting removes the setup; dividing by
// R * rows * k gives instructions per weight (docs/performance.md, "ARM64").
//   kernel_calls TYPE ISA ROWS K TOKENS REPS      e.g.  kernel_calls TQ2_0 dotprod 256 2560 1 4
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bitnet/error.hpp"
#include "kernels/bitlinear.hpp"
#include "kernels/cpu_features.hpp"
#include "kernels/ternary_kernels.hpp"
#include "quant/tensor_type.hpp"

int main(int argc, char** argv) {
  using namespace bitnet;
  using namespace bitnet::kernels;
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s TYPE(I2_S|TQ2_0|TQ1_0) ISA ROWS K TOKENS REPS\n", argv[0]);
    return 2;
  }
  try {
    const std::string type_name = argv[1];
    const TensorType type = type_name == "I2_S"    ? TensorType::I2_S
                            : type_name == "TQ1_0" ? TensorType::TQ1_0
                                                   : TensorType::TQ2_0;
    const Isa isa = parse_isa(argv[2]);
    const int64_t n = std::atoll(argv[3]), k = std::atoll(argv[4]), tokens = std::atoll(argv[5]);
    const int reps = std::atoi(argv[6]);
    // Random codes from an LCG and valid scales: the setup stays a small part of what is counted.
    std::vector<uint8_t> bytes(static_cast<size_t>(*tensor_nbytes(type, n * k, k)));
    uint32_t state = 1;
    for (auto& b : bytes) {
      state = state * 1664525u + 1013904223u;
      b = static_cast<uint8_t>(state >> 24);
    }
    if (type == TensorType::I2_S) {
      const float one = 1.0f;
      std::memcpy(bytes.data() + n * k / 4, &one, sizeof(one));
    } else {
      const int64_t ts = traits(type).type_size;
      for (int64_t b = 0; b < n * k / 256; ++b) {
        bytes[b * ts + ts - 2] = 0x00;  // fp16 0.25
        bytes[b * ts + ts - 1] = 0x34;
      }
    }
    std::mt19937 rng(1);
    TernaryWeights w = TernaryWeights::from_tensor(type, bytes.data(), k, n);
    kernel_set(isa);  // the set's statics, before the counted calls
    std::vector<float> x(static_cast<size_t>(tokens * k));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& v : x) v = normal(rng);
    std::vector<float> y(static_cast<size_t>(tokens * n));
    QuantizedActs scratch;
    double checksum = 0;
    for (int r = 0; r < reps; ++r) {
      bitlinear_with(kernel_set(isa), w, x.data(), tokens, y.data(), scratch, 1);
      checksum += y[static_cast<size_t>(r) % y.size()];
    }
    std::printf("%.6g\n", checksum);
  } catch (const Error& e) {
    std::fprintf(stderr, "kernel_calls: %s\n", e.what());
    return 1;
  }
  return 0;
}
