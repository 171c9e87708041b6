// AdamW / gradient-norm kernels compiled for AVX2 (this file gets the ISA's compiler flags; see
// cmake/FuselmCompilerFlags.cmake). Only called after adamw.cpp has checked ctx.isa.
#include "adamw_kernels.h"

namespace fl::cpu::avx2_adamw {
#include "adamw_impl.h"
}  // namespace fl::cpu::avx2_adamw
