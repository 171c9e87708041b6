// Softmax and fused softmax + cross-entropy kernels, one table per instruction set (bodies in
// softmax_impl.h, threading and dispatch in softmax.cpp). Each function works on rows [r0, r1).
#pragma once

#include <cstdint>

#include "x86_intrin.h"

namespace fl::cpu {

struct SoftmaxKernels {
  void (*softmax_forward_rows)(float *out, const float *inp, int64_t r0, int64_t r1, int64_t V);
  void (*softmax_backward_rows)(float *dinp, const float *out, const float *dout, int64_t r0,
                                int64_t r1, int64_t V);
  // losses[r] = lse - logits[r, target] (0 for ignored rows), lse[r] (lse may be NULL)
  void (*ce_forward_rows)(float *losses, float *lse, const float *logits, const int32_t *targets,
                          int64_t r0, int64_t r1, int64_t V, int32_t ignore_index);
  // dlogits[r] = scale * (softmax - onehot), 0 for ignored rows; dlogits may equal logits
  void (*ce_backward_rows)(float *dlogits, const float *logits, const float *lse,
                           const int32_t *targets, int64_t r0, int64_t r1, int64_t V,
                           int32_t ignore_index, float scale);
};

namespace generic_softmax { extern const SoftmaxKernels kernels; }
#if defined(FUSELM_HAVE_X86_SIMD)
namespace avx2_softmax { extern const SoftmaxKernels kernels; }
namespace avx512_softmax { extern const SoftmaxKernels kernels; }
#endif

}  // namespace fl::cpu
