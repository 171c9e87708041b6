// The CPU backend's kernel table for one instruction-set level: the op families whose bodies are
// compiled once per ISA (generic, AVX2, AVX-512) from one source, each family's *_impl.h included
// into a namespace <isa>_<family> by cpu/isa_families.inc (as ggml builds its CPU backend once per
// ISA). A context picks its table once, when it is created or its ISA level changes
// (CpuContext::kernels), and every op of these families calls through it.
//
// GEMM, attention and int8 still choose their micro-kernels per call from ctx.isa (gemm.cpp,
// attention.cpp, q8.cpp): their ISA files hold real per-ISA code, not a repeated wrapper.
#pragma once

#include "adamw_kernels.h"
#include "layernorm_kernels.h"
#include "pointwise_kernels.h"
#include "softmax_kernels.h"

namespace fl::cpu {

struct CpuKernels {
  int isa;  // the FL_ISA_* level these bodies were compiled for (generic: 0)
  const AdamWKernels *adamw;
  const LayerNormKernels *layernorm;
  const PointwiseKernels *pointwise;
  const SoftmaxKernels *softmax;
};

namespace generic { extern const CpuKernels kernels; }
#if defined(FUSELM_HAVE_X86_SIMD)
namespace avx2 { extern const CpuKernels kernels; }
namespace avx512 { extern const CpuKernels kernels; }
#endif

}  // namespace fl::cpu
