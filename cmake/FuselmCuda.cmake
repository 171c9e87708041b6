# CUDA backend (issue 5). FUSELM_CUDA=AUTO builds it when nvcc is found; ON requires it; OFF skips it.
#
# The kernels (native/cuda/*.cu) compile into an object library that is linked into libfuselm, with
# cudart linked statically: the shipped library needs only the NVIDIA driver at run time, and loads
# and runs its CPU backends on machines with no driver at all.
#
# Architectures: SASS for sm_80 (A100) and sm_90 (H100), plus compute_90 PTX that newer GPUs JIT.
# Override with -DFUSELM_CUDA_ARCHITECTURES=80 (one arch) to halve compile time while iterating.
# Expects: target `fuselm` defined, FUSELM_SANITIZE set.

set(FUSELM_CUDA_ARCHITECTURES "80-real;90" CACHE STRING
    "CUDA architectures of the CUDA backend (CMake syntax; 90 = sm_90 SASS + compute_90 PTX)")

set(FUSELM_HAVE_CUDA OFF)
if(FUSELM_CUDA STREQUAL "OFF")
  message(STATUS "fuselm: CUDA backend off (FUSELM_CUDA=OFF)")
  return()
endif()
if(NOT FUSELM_CUDA STREQUAL "AUTO" AND NOT FUSELM_CUDA STREQUAL "ON")
  message(FATAL_ERROR "FUSELM_CUDA must be AUTO, ON or OFF, got '${FUSELM_CUDA}'")
endif()
if(FUSELM_SANITIZE AND FUSELM_CUDA STREQUAL "AUTO")
  # ASan's shadow memory and the CUDA driver's address-space reservations do not mix; the sanitizer
  # build tests the CPU backends.
  message(STATUS "fuselm: CUDA backend off in the sanitizer build (FUSELM_SANITIZE=ON)")
  return()
endif()

# CMake looks for nvcc on PATH and in CUDACXX; also try the standard install location.
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "CUDA compiler")
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(FUSELM_CUDA STREQUAL "ON")
    message(FATAL_ERROR "FUSELM_CUDA=ON but no CUDA compiler (nvcc) was found; set CMAKE_CUDA_COMPILER")
  endif()
  message(STATUS "fuselm: no CUDA compiler found, CUDA backend off")
  return()
endif()

set(CMAKE_CUDA_ARCHITECTURES "${FUSELM_CUDA_ARCHITECTURES}")
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)

file(GLOB FUSELM_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cu)
add_library(fuselm_cuda OBJECT ${FUSELM_CUDA_SOURCES})
target_include_directories(fuselm_cuda PRIVATE include src cuda)
set_target_properties(fuselm_cuda PROPERTIES
  CUDA_ARCHITECTURES "${FUSELM_CUDA_ARCHITECTURES}"
  CUDA_RUNTIME_LIBRARY Static
  CUDA_VISIBILITY_PRESET hidden
  POSITION_INDEPENDENT_CODE ON)
# Keep IEEE division and sqrt (no fast math): the conformance tests compare against double loops.
# -Xptxas -v (set FUSELM_CUDA_PTXAS_VERBOSE=ON) prints registers, spills and shared memory per kernel.
option(FUSELM_CUDA_PTXAS_VERBOSE "Print ptxas resource usage of every CUDA kernel" OFF)
target_compile_options(fuselm_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${FUSELM_CUDA_PTXAS_VERBOSE}>>:-Xptxas=-v>)

target_link_libraries(fuselm PRIVATE fuselm_cuda CUDA::cudart_static)
target_include_directories(fuselm PRIVATE cuda)
target_compile_definitions(fuselm PRIVATE FUSELM_HAVE_CUDA=1)
set(FUSELM_HAVE_CUDA ON)
message(STATUS "fuselm: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${FUSELM_CUDA_ARCHITECTURES})")
