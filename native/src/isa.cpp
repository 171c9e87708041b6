// Run-time CPU feature detection: the library is built for baseline x86-64 and picks wider code paths
// only where the CPU (and the OS, for AVX state) supports them.
#include "fuselm.h"
#include "internal.h"

namespace fl {

int cpu_best_isa() {
#if defined(__x86_64__) && defined(FUSELM_HAVE_X86_SIMD)
  static const int best = [] {
    __builtin_cpu_init();
#if defined(FUSELM_SIMDE_AVX512)
    // emulation test build: the AVX-512 kernels run through SIMDe on AVX2 (cmake option
    // FUSELM_SIMDE_AVX512), so an AVX2 CPU reports the top level and the tests cover every path
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
      return FL_ISA_AVX512_BF16;
#endif
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
      return __builtin_cpu_supports("avx512bf16") ? FL_ISA_AVX512_BF16 : FL_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return FL_ISA_AVX2;
    return FL_ISA_GENERIC;
  }();
  return best;
#else
  return FL_ISA_GENERIC;
#endif
}

}  // namespace fl
