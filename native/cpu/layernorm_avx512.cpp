// Layer norm kernels compiled for AVX512 (this file gets the ISA's compiler flags; see
// cmake/FuselmCompilerFlags.cmake). Only called after layernorm.cpp has checked ctx.isa.
#include "layernorm_kernels.h"

namespace fl::cpu::avx512_layernorm {
#include "layernorm_impl.h"
}  // namespace fl::cpu::avx512_layernorm
