// AdamW and gradient-norm kernels, one table per instruction set (bodies in adamw_impl.h, threading,
// segments and dispatch in adamw.cpp).
#pragma once

#include <cstdint>

#include "x86_intrin.h"

namespace fl::cpu {

// Per-step constants of an AdamW update, computed once per call (see adamw.cpp).
struct AdamWStep {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float step_size;  // lr / (1 - beta1^t)
  float bc2_sqrt;   // sqrt(1 - beta2^t)
  float eps, grad_scale;
};

struct AdamWKernels {
  // n elements; decay is the factor params are multiplied by first: 1 - lr * wd, or exactly 1
  void (*adamw)(float *params, const float *grads, float *m, float *v, int64_t n, float decay,
                const AdamWStep &s);
  // sum of g^2 over n elements, in double, lane order fixed (same result on every ISA)
  double (*sum_squares)(const float *grads, int64_t n);
};

namespace generic_adamw { extern const AdamWKernels kernels; }
#if defined(FUSELM_HAVE_X86_SIMD)
namespace avx2_adamw { extern const AdamWKernels kernels; }
namespace avx512_adamw { extern const AdamWKernels kernels; }
#endif

}  // namespace fl::cpu
