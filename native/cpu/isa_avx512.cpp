// The AVX-512 build of the per-ISA op families (isa_families.inc); this file gets the AVX-512
// flags (cmake/FuselmCompilerFlags.cmake) and its table is chosen only when cpuid says AVX-512.
#include "fuselm.h"

#define FL_ISA_NAME avx512
#define FL_ISA_LEVEL FL_ISA_AVX512
#include "isa_families.inc"
