// The x86 intrinsics header for every CPU kernel file. Normally just <immintrin.h>. In the
// emulation build (CMake FUSELM_SIMDE_AVX512=ON, a test build only, never shipped) the AVX-512
// files are compiled with the AVX2 flags and FL_SIMDE_AVX512 defined: the AVX-512 / AVX512_BF16
// intrinsics then come from SIMDe (portable implementations on top of AVX2), so the AVX-512 kernels
// run, and are tested, on CPUs without AVX-512.
#pragma once

#if defined(FL_SIMDE_AVX512)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include "x86_simde_shim.h"
#elif defined(__SSE2__)
#include <immintrin.h>
#endif

// FL_AVX512: the TU may use AVX-512 F/BW/VL/DQ intrinsics (natively or through SIMDe).
#if defined(__AVX512F__) || defined(FL_SIMDE_AVX512)
#define FL_AVX512 1
#endif

// 512 bits reinterpreted as 32 bf16 (a no-op). GCC's vector cast where the type is native; SIMDe's
// __m512bh is a union, which a C-style cast cannot produce.
#if defined(FL_SIMDE_AVX512)
static inline __m512bh fl_as_m512bh(__m512i x) {
  __m512bh r;
  __builtin_memcpy(&r, &x, sizeof r);
  return r;
}
#elif defined(__AVX512BF16__)
#define fl_as_m512bh(x) ((__m512bh)(x))
#endif
