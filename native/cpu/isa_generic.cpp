// The portable build of the per-ISA op families (isa_families.inc: baseline x86-64 or any
// architecture), and the choice of a context's table.
#include "fuselm.h"
#include "internal.h"

#define FL_ISA_NAME generic
#define FL_ISA_LEVEL FL_ISA_GENERIC
#include "isa_families.inc"

namespace fl::cpu {

const CpuKernels *kernels_for_isa(int isa) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (isa >= FL_ISA_AVX512) return &avx512::kernels;
  if (isa >= FL_ISA_AVX2) return &avx2::kernels;
#endif
  (void)isa;
  return &generic::kernels;
}

}  // namespace fl::cpu
