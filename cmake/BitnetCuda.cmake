# The CUDA backend (src/backends/cuda/*.cu). BITNET_CUDA=AUTO (the default) builds it when CMake
# finds a CUDA compiler, ON requires one, OFF never builds it. Without it, the .cpp files of
# src/backends/cuda (host-side layout code, tested on any machine) are still part of the library
# and the engine runs every layer on the CPU.
set(BITNET_CUDA "AUTO" CACHE STRING "Build the CUDA backend: ON, OFF or AUTO (when nvcc is found)")
set_property(CACHE BITNET_CUDA PROPERTY STRINGS ON OFF AUTO)

set(BITNET_HAVE_CUDA OFF)
string(TOUPPER "${BITNET_CUDA}" bitnet_cuda_mode)
if(bitnet_cuda_mode STREQUAL "ON" OR bitnet_cuda_mode STREQUAL "AUTO")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(BITNET_HAVE_CUDA ON)
  elseif(bitnet_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "BITNET_CUDA=ON, but no CUDA compiler was found (set CMAKE_CUDA_COMPILER "
                        "or put nvcc on PATH; -DBITNET_CUDA=OFF builds without the backend)")
  endif()
elseif(NOT bitnet_cuda_mode STREQUAL "OFF")
  message(FATAL_ERROR "BITNET_CUDA must be ON, OFF or AUTO, got '${BITNET_CUDA}'")
endif()

if(BITNET_HAVE_CUDA)
  # A100 (sm_80) and H100/H200 (sm_90) unless the user names others; "native" needs a GPU at
  # configure time, which the build machines do not have.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "bitnet: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                 "architectures ${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "bitnet: CUDA backend OFF")
endif()

# The CUDA objects of the engine, linked into libbitnet beside bitnet_obj.
function(bitnet_add_cuda_objects)
  file(GLOB_RECURSE cuda_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backends/cuda/*.cu)
  add_library(bitnet_cuda_obj OBJECT ${cuda_sources})
  target_include_directories(bitnet_cuda_obj PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  # --fmad=false: no fused multiply-adds the CPU path does not do (the kernels call fmaf where the
  # reference fuses), so integer sums and their float rescale match the CPU oracle bit for bit.
  # C++20 as the engine's headers need (CMake 3.25 has no CUDA20 dialect flag for nvcc).
  target_compile_options(bitnet_cuda_obj PRIVATE -std=c++20 --fmad=false -Xcompiler=-Wall,-Wextra
                                                 $<$<BOOL:${BITNET_WERROR}>:-Werror=all-warnings>)
  set_target_properties(bitnet_cuda_obj PROPERTIES CUDA_STANDARD_REQUIRED OFF)
  target_link_libraries(bitnet_cuda_obj PUBLIC CUDA::cudart_static)
endfunction()
