// Pointwise ops on the CPU backend: GELU (tanh and erf forms) forward/backward, add, scale. Parallel over elements in
// chunks of at least 16K floats (64 KiB), vectorised per ISA (pointwise_impl.h).
#include "fuselm.h"
#include "internal.h"
#include "cpu_kernels.h"

namespace fl::cpu {

namespace {

constexpr int64_t kGrain = 16384;

}  // namespace

void gelu_forward(const CpuContext &ctx, float *out, const float *inp, int64_t n) {
  const PointwiseKernels &k = *ctx.kernels->pointwise;
  parallel_for(ctx, n, kGrain, [&](int64_t i0, int64_t i1) {
    k.gelu_forward(out + i0, inp + i0, i1 - i0);
  });
}

void gelu_backward(const CpuContext &ctx, float *dinp, const float *inp, const float *dout,
                   int64_t n) {
  const PointwiseKernels &k = *ctx.kernels->pointwise;
  parallel_for(ctx, n, kGrain, [&](int64_t i0, int64_t i1) {
    k.gelu_backward(dinp + i0, inp + i0, dout + i0, i1 - i0);
  });
}

void gelu_erf_forward(const CpuContext &ctx, float *out, const float *inp, int64_t n) {
  const PointwiseKernels &k = *ctx.kernels->pointwise;
  parallel_for(ctx, n, kGrain, [&](int64_t i0, int64_t i1) {
    k.gelu_erf_forward(out + i0, inp + i0, i1 - i0);
  });
}

void gelu_erf_backward(const CpuContext &ctx, float *dinp, const float *inp, const float *dout,
                       int64_t n) {
  const PointwiseKernels &k = *ctx.kernels->pointwise;
  parallel_for(ctx, n, kGrain, [&](int64_t i0, int64_t i1) {
    k.gelu_erf_backward(dinp + i0, inp + i0, dout + i0, i1 - i0);
  });
}

void add(const CpuContext &ctx, float *out, const float *a, const float *b, int64_t n) {
  const PointwiseKernels &k = *ctx.kernels->pointwise;
  parallel_for(ctx, n, kGrain, [&](int64_t i0, int64_t i1) {
    k.add(out + i0, a + i0, b + i0, i1 - i0);
  });
}

void scale(const CpuContext &ctx, float *x, float s, int64_t n) {
  const PointwiseKernels &k = *ctx.kernels->pointwise;
  parallel_for(ctx, n, kGrain, [&](int64_t i0, int64_t i1) { k.scale(x + i0, s, i1 - i0); });
}

}  // namespace fl::cpu
