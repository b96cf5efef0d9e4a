# Warnings are errors in our own code only (never in third-party headers, which are -isystem).
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

# SIMD kernels live in files named *_avx2.cpp / *_avx512.cpp; only those files get the ISA flags,
# and the dispatcher picks one at run time from CPUID, so one binary runs on any x86-64.
# -ffp-contract=off: no fused multiply-adds the scalar oracle does not do (bit-identical outputs).
function(bitnet_set_simd_flags sources)
  foreach(src IN LISTS sources)
    if(src MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS
        "-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx2;-mfma;-mf16c;-mbmi2;-ffp-contract=off")
    elseif(src MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mbmi2;-ffp-contract=off")
    endif()
  endforeach()
endfunction()
