// What the CPU can run (CPUID + XGETBV, read once) and which kernel set BitLinear uses.
// The feature table is the only global the project allows.
#pragma once

#include <string_view>

namespace bitnet::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx_vnni = false;
};

// Detected on first use; features whose registers the OS does not save (XCR0) count as absent.
const CpuFeatures& cpu_features();

// Kernel sets, from slowest to fastest. Avx512 needs F, BW, VL and VNNI; Avx2 needs AVX2, FMA,
// F16C.
enum class Isa { scalar, avx2, avx512 };

std::string_view to_string(Isa isa);
bool isa_supported(Isa isa);
Isa best_isa();

// The ISA BitLinear uses: BITNET_CPU=scalar|avx2|avx512 when set (bitnet::Error, category device,
// when unknown or unsupported by this CPU), else with BITNET_DETERMINISTIC=1 avx2 (scalar without
// it), else best_isa(). Read once per process.
Isa selected_isa();

// Parses a BITNET_CPU value; throws bitnet::Error (device) for unknown names or unsupported ISAs.
Isa parse_isa(std::string_view name);

}  // namespace bitnet::kernels
