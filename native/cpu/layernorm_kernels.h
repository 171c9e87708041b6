// Layer norm kernels, one table per instruction set (see layernorm_impl.h for the bodies and
// layernorm.cpp for the threading and the dispatch on ctx.isa).
#pragma once

#include <cstdint>

#include "x86_intrin.h"

namespace fl::cpu {

// Each function works on rows [r0, r1) of a (N, C) problem.
struct LayerNormKernels {
  void (*forward_rows)(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int64_t r0, int64_t r1, int64_t C, float eps);
  // residual_out = a + b, then out = layernorm(residual_out)
  void (*residual_forward_rows)(float *residual_out, float *out, float *mean, float *rstd,
                                const float *a, const float *b, const float *weight,
                                const float *bias, int64_t r0, int64_t r1, int64_t C, float eps);
  // dinp += ... (dinp may be NULL); dweight_part/dbias_part (C each, may be NULL together) are
  // OVERWRITTEN with this block's sums over rows [r0, r1)
  void (*backward_rows)(float *dinp, float *dweight_part, float *dbias_part, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int64_t r0, int64_t r1, int64_t C);
};

namespace generic_layernorm { extern const LayerNormKernels kernels; }
#if defined(FUSELM_HAVE_X86_SIMD)
namespace avx2_layernorm { extern const LayerNormKernels kernels; }
namespace avx512_layernorm { extern const LayerNormKernels kernels; }
#endif

}  // namespace fl::cpu
