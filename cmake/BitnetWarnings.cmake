# Warnings are errors in our own code only (never in third-party headers, which are -isystem).
# Compile options for the code around the engine, after the build type's (so an -O here wins).
# The presets lower the optimization of the test harness (and, under the sanitizers, of the CLI and
# the server): those files are mostly header-only library code (gtest, CLI11, nlohmann-json,
# cpp-httplib) whose code generation dominated the build (a test file: 17.7 s at -O2 -g, 9.0 s at
# -O1 -g1; 39.5 s at -O1 with ASan, 14.4 s at -O0), while the engine they drive keeps the build
# type's flags, so the tests run as fast as before.
set(BITNET_TEST_COMPILE_OPTIONS "" CACHE STRING "Extra compile options for tests/ (e.g. -O1)")
set(BITNET_FRONTEND_COMPILE_OPTIONS "" CACHE STRING "Extra compile options for tools/ and src/server/")
function(bitnet_add_compile_options target options)
  separate_arguments(parsed UNIX_COMMAND "${options}")
  target_compile_options(${target} PRIVATE ${parsed})
endfunction()

function(bitnet_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-unused-parameter
                                           # GCC 12's -O3 reports false -Wrestrict overlaps inside
                                           # libstdc++'s std::string (GCC bug 105329).
                                           $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
  if(BITNET_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# The target architecture's kernel family: x86 (x86-64) or arm64 (aarch64, Apple Silicon included);
# anything else builds the scalar oracle only.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86)$")
  set(BITNET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(BITNET_ARCH arm64)
else()
  set(BITNET_ARCH generic)
endif()

# Drops from a source list the kernel files of the other architectures: *_avx2.cpp / *_avx512.cpp
# are x86 only, *_neon.cpp / *_dotprod.cpp aarch64 only.
function(bitnet_filter_arch_sources list_var)
  set(sources ${${list_var}})
  if(NOT BITNET_ARCH STREQUAL "x86")
    list(FILTER sources EXCLUDE REGEX "_(avx2|avx512)\\.cpp$")
  endif()
  if(NOT BITNET_ARCH STREQUAL "arm64")
    list(FILTER sources EXCLUDE REGEX "_(neon|dotprod)\\.cpp$")
  endif()
  set(${list_var} ${sources} PARENT_SCOPE)
endfunction()

# SIMD kernels live in files named after their ISA; only those files get the ISA flags, and the
# dispatcher picks one at run time (CPUID on x86, the hwcaps on ARM), so one binary runs on any
# x86-64 or any ARMv8-A CPU. NEON is part of ARMv8-A, so *_neon.cpp needs no flag.
# -ffp-contract=off (also on the whole library): no fused multiply-adds the scalar oracle does not
# do (bit-identical outputs; GCC in GNU mode and clang contract by default on ARM).
function(bitnet_set_simd_flags sources)
  foreach(src IN LISTS sources)
    if(src MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS
        "-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx2;-mfma;-mf16c;-mbmi2;-ffp-contract=off")
    elseif(src MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mbmi2;-ffp-contract=off")
    elseif(src MATCHES "_dotprod\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "-march=armv8.2-a+dotprod;-ffp-contract=off")
    endif()
  endforeach()
endfunction()
