# Per-file instruction-set flags. The library targets baseline x86-64; files named *_avx2.cpp,
# *_avx512.cpp and *_avx512bf16.cpp are compiled for those ISAs and only called after a run-time CPU check
# (fl::cpu_best_isa). Never -march=native: the shipped library must run on any x86-64.
# On other architectures the ISA-specific files are left out and the portable paths are used.

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(FUSELM_X86_SIMD ON)
else()
  set(FUSELM_X86_SIMD OFF)
endif()

set(FUSELM_AVX2_FLAGS -mavx2 -mfma -mf16c)
set(FUSELM_AVX512_FLAGS -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx2 -mfma -mf16c)
set(FUSELM_AVX512BF16_FLAGS ${FUSELM_AVX512_FLAGS} -mavx512bf16)

# Test-only emulation build (FUSELM_SIMDE_AVX512=ON, see native/CMakeLists.txt): the AVX-512 files get
# the AVX2 flags and FL_SIMDE_AVX512, so native/cpu/x86_intrin.h takes their AVX-512 and AVX512_BF16
# intrinsics from SIMDe and they run on AVX2-only CPUs.
if(FUSELM_SIMDE_AVX512)
  # -Wno-psabi: SIMDe passes its 512-bit types by value, which GCC notes changes the ABI without -mavx512f
  set(FUSELM_AVX512_FLAGS ${FUSELM_AVX2_FLAGS} -DFL_SIMDE_AVX512=1 -Wno-psabi)
  set(FUSELM_AVX512BF16_FLAGS ${FUSELM_AVX512_FLAGS})
endif()

# Usage: fuselm_apply_isa_flags("${SOURCES}") - sets flags on ISA files, removes them off x86.
macro(fuselm_apply_isa_flags SOURCES)
  foreach(src ${SOURCES})
    if(src MATCHES "_avx512bf16\\.cpp$")
      if(FUSELM_X86_SIMD)
        set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${FUSELM_AVX512BF16_FLAGS}")
      else()
        list(REMOVE_ITEM FUSELM_CORE_SOURCES ${src})
      endif()
    elseif(src MATCHES "_avx512\\.cpp$")
      if(FUSELM_X86_SIMD)
        set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${FUSELM_AVX512_FLAGS}")
      else()
        list(REMOVE_ITEM FUSELM_CORE_SOURCES ${src})
      endif()
    elseif(src MATCHES "_avx2\\.cpp$")
      if(FUSELM_X86_SIMD)
        set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${FUSELM_AVX2_FLAGS}")
      else()
        list(REMOVE_ITEM FUSELM_CORE_SOURCES ${src})
      endif()
    endif()
  endforeach()
endmacro()
