#include "kernels/cpu_features.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "bitnet/error.hpp"
#include "common/debug_env.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define BITNET_X86 1
#endif

namespace bitnet::kernels {
namespace {

#ifdef BITNET_X86
uint64_t read_xcr0() {
  uint32_t eax = 0;
  uint32_t edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef BITNET_X86
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = (ecx >> 27) & 1;
  const bool avx = (ecx >> 28) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool ymm_saved = (xcr0 & 0x6) == 0x6;                 // XMM and YMM state
  const bool zmm_saved = ymm_saved && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_saved) return f;
  f.fma = (ecx >> 12) & 1;
  f.f16c = (ecx >> 29) & 1;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  f.avx2 = (ebx >> 5) & 1;
  if (zmm_saved) {
    f.avx512f = (ebx >> 16) & 1;
    f.avx512bw = (ebx >> 30) & 1;
    f.avx512vl = (ebx >> 31) & 1;
    f.avx512vnni = (ecx >> 11) & 1;
  }
  __cpuid_count(7, 1, eax, ebx, ecx, edx);
  f.avx_vnni = (eax >> 4) & 1;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

std::string_view to_string(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return "scalar";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::scalar:
      return true;
    case Isa::avx2:
      return f.avx2 && f.fma && f.f16c;
    case Isa::avx512:
      return isa_supported(Isa::avx2) && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
  }
  return false;
}

Isa best_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (name != to_string(isa)) continue;
    if (!isa_supported(isa)) {
      throw Error(ErrorCategory::device,
                  "BITNET_CPU=" + std::string(name) + ": this CPU lacks the features it needs");
    }
    return isa;
  }
  throw Error(ErrorCategory::device, "BITNET_CPU=" + std::string(name) +
                                         ": unknown kernel set (expected scalar, avx2 or avx512)");
}

Isa selected_isa() {
  static const Isa isa = [] {
    const char* env = std::getenv("BITNET_CPU");
    if (env && *env) return parse_isa(env);
    // Every set gives the oracle's bits; pinning the baseline one keeps the code path the same on
    // every x86-64 machine with AVX2, whatever else it has.
    if (debug_env::deterministic()) return isa_supported(Isa::avx2) ? Isa::avx2 : Isa::scalar;
    return best_isa();
  }();
  return isa;
}

}  // namespace bitnet::kernels
