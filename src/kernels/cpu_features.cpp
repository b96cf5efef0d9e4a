#include "kernels/cpu_features.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "bitnet/error.hpp"
#include "common/debug_env.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define BITNET_X86 1
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#define BITNET_ARM64 1
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define BITNET_ARM64 1
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

#if defined(__aarch64__) && defined(__APPLE__)
bool sysctl_flag(const char* name) {
  int value = 0;
  size_t size = sizeof(value);
  return sysctlbyname(name, &value, &size, nullptr, 0) == 0 && value != 0;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(BITNET_ARM64) && defined(__APPLE__)
  f.neon = true;  // every Apple Silicon core
  f.dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
  f.i8mm = sysctl_flag("hw.optional.arm.FEAT_I8MM");
#elif defined(BITNET_ARM64)
  // The bit values of <asm/hwcap.h>, spelled here so that older kernel headers still build.
  constexpr unsigned long kHwcapAsimd = 1UL << 1;
  constexpr unsigned long kHwcapAsimdDp = 1UL << 20;
  constexpr unsigned long kHwcap2I8mm = 1UL << 13;
  const unsigned long hwcap = getauxval(AT_HWCAP);
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
  f.neon = (hwcap & kHwcapAsimd) != 0;
  f.dotprod = f.neon && (hwcap & kHwcapAsimdDp) != 0;
  f.i8mm = f.neon && (hwcap2 & kHwcap2I8mm) != 0;
#endif
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

std::string cpu_features_string() {
  const CpuFeatures& f = cpu_features();
  std::string out;
  const auto add = [&](bool on, const char* name) {
    if (on) out += (out.empty() ? "" : " ") + std::string(name);
  };
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.f16c, "f16c");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vl, "avx512vl");
  add(f.avx512vnni, "avx512_vnni");
  add(f.avx_vnni, "avx_vnni");
  add(f.neon, "asimd");
  add(f.dotprod, "asimddp");
  add(f.i8mm, "i8mm");
  return out;
}

std::string_view to_string(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return "scalar";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
    case Isa::neon:
      return "neon";
    case Isa::dotprod:
      return "dotprod";
  }
  return "unknown";
}

std::span<const Isa> built_isas() {
#if defined(BITNET_X86)
  static constexpr Isa isas[] = {Isa::scalar, Isa::avx2, Isa::avx512};
#elif defined(BITNET_ARM64)
  static constexpr Isa isas[] = {Isa::scalar, Isa::neon, Isa::dotprod};
#else
  static constexpr Isa isas[] = {Isa::scalar};
#endif
  return isas;
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
    case Isa::neon:
      return f.neon;
    case Isa::dotprod:
      return f.neon && f.dotprod;
  }
  return false;
}

Isa best_isa() {
  const std::span<const Isa> isas = built_isas();
  for (auto it = isas.rbegin(); it != isas.rend(); ++it) {
    if (isa_supported(*it)) return *it;
  }
  return Isa::scalar;
}

Isa parse_isa(std::string_view name) {
  std::string known;
  for (Isa isa : built_isas()) {
    known += (known.empty() ? "" : ", ") + std::string(to_string(isa));
    if (name != to_string(isa)) continue;
    if (!isa_supported(isa)) {
      throw Error(ErrorCategory::device,
                  "BITNET_CPU=" + std::string(name) + ": this CPU lacks the features it needs");
    }
    return isa;
  }
  for (Isa other : {Isa::avx2, Isa::avx512, Isa::neon, Isa::dotprod}) {
    if (name == to_string(other)) {
      throw Error(ErrorCategory::device, "BITNET_CPU=" + std::string(name) +
                                             ": a kernel set of another architecture (this build "
                                             "has " +
                                             known + ")");
    }
  }
  throw Error(ErrorCategory::device, "BITNET_CPU=" + std::string(name) +
                                         ": unknown kernel set (expected one of " + known + ")");
}

Isa selected_isa() {
  static const Isa isa = [] {
    const char* env = std::getenv("BITNET_CPU");
    if (env && *env) return parse_isa(env);
    // Every set gives the oracle's bits; pinning the baseline one keeps the code path the same on
    // every machine of the architecture, whatever else it has.
    if (debug_env::deterministic()) {
      const std::span<const Isa> isas = built_isas();
      return isas.size() > 1 && isa_supported(isas[1]) ? isas[1] : Isa::scalar;
    }
    return best_isa();
  }();
  return isa;
}

}  // namespace bitnet::kernels
