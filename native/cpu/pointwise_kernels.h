// Pointwise kernels (GELU tanh and erf forms, add, scale), one table per instruction set (bodies in pointwise_impl.h,
// threading and dispatch in pointwise.cpp). Each function works on n contiguous elements; callers
// pass pointers already offset to a chunk.
#pragma once

#include <cstdint>

#include "x86_intrin.h"

namespace fl::cpu {

struct PointwiseKernels {
  void (*gelu_forward)(float *out, const float *inp, int64_t n);
  void (*gelu_backward)(float *dinp, const float *inp, const float *dout, int64_t n);
  void (*gelu_erf_forward)(float *out, const float *inp, int64_t n);
  void (*gelu_erf_backward)(float *dinp, const float *inp, const float *dout, int64_t n);
  void (*add)(float *out, const float *a, const float *b, int64_t n);
  void (*scale)(float *x, float s, int64_t n);
};

namespace generic_pointwise { extern const PointwiseKernels kernels; }
#if defined(FUSELM_HAVE_X86_SIMD)
namespace avx2_pointwise { extern const PointwiseKernels kernels; }
namespace avx512_pointwise { extern const PointwiseKernels kernels; }
#endif

}  // namespace fl::cpu
