// Pointwise kernels compiled for AVX512 (this file gets the ISA's compiler flags; see
// cmake/FuselmCompilerFlags.cmake). Only called after pointwise.cpp has checked ctx.isa.
#include "pointwise_kernels.h"

namespace fl::cpu::avx512_pointwise {
#include "pointwise_impl.h"
}  // namespace fl::cpu::avx512_pointwise
