// The AVX2 + FMA build of the per-ISA op families (isa_families.inc); this file gets the AVX2
// flags (cmake/FuselmCompilerFlags.cmake) and its table is chosen only when cpuid says AVX2.
#include "fuselm.h"

#define FL_ISA_NAME avx2
#define FL_ISA_LEVEL FL_ISA_AVX2
#include "isa_families.inc"
