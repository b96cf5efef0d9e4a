// What the CPU can run (x86: CPUID + XGETBV; ARM: the kernel's hwcaps, or sysctl on macOS; read
// once) and which kernel set the forward pass uses.
// The feature table is the only global the project allows.
#pragma once

#include <span>
#include <string>
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
  bool neon = false;     // Advanced SIMD (every ARMv8-A CPU)
  bool dotprod = false;  // SDOT/UDOT (ARMv8.2 FEAT_DotProd)
  bool i8mm = false;     // SMMLA/USDOT (ARMv8.6 FEAT_I8MM); reported, no kernel uses it yet
};

// Detected on first use; features whose registers the OS does not save (XCR0) count as absent.
const CpuFeatures& cpu_features();

// The features present, space-separated, in /proc/cpuinfo's lower-case names (avx2 fma f16c
// avx512f ... / asimd asimddp i8mm); empty when there are none.
std::string cpu_features_string();

// Kernel sets. x86: Avx512 needs F, BW, VL and VNNI; Avx2 needs AVX2, FMA, F16C. ARM (aarch64
// builds only): Neon is the ARMv8-A baseline; Dotprod adds SDOT. Every set gives the scalar
// oracle's bits.
enum class Isa { scalar, avx2, avx512, neon, dotprod };

// The sets this build has, from slowest to fastest, scalar first (x86: scalar, avx2, avx512; ARM:
// scalar, neon, dotprod). A set of the other architecture is never supported.
std::span<const Isa> built_isas();

std::string_view to_string(Isa isa);
bool isa_supported(Isa isa);
Isa best_isa();

// The ISA the kernels use: BITNET_CPU=<one of built_isas()> when set (bitnet::Error, category
// device, when unknown or unsupported by this CPU), else with BITNET_DETERMINISTIC=1 the baseline
// SIMD set (avx2 or neon; scalar without it), else best_isa(). Read once per process.
Isa selected_isa();

// Parses a BITNET_CPU value; throws bitnet::Error (device) for unknown names or unsupported ISAs.
Isa parse_isa(std::string_view name);

}  // namespace bitnet::kernels
