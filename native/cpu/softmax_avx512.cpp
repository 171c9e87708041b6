// Softmax / cross-entropy kernels compiled for AVX512 (this file gets the ISA's compiler flags; see
// cmake/FuselmCompilerFlags.cmake). Only called after softmax.cpp has checked ctx.isa.
#include "softmax_kernels.h"

namespace fl::cpu::avx512_softmax {
#include "softmax_impl.h"
}  // namespace fl::cpu::avx512_softmax
