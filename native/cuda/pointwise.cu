// Pointwise ops: GELU (tanh approximation and exact erf form) forward and backward, add, scale. Grid-stride loops,
// memory bound; nothing to tile.
//
// GELU is evaluated as x * sigmoid(2u) with u = sqrt(2/pi) (x + 0.044715 x^3), which equals
// 0.5 x (1 + tanh u) but has no cancellation in 1 + tanh u for large negative x (the reference
// computes in double; this form keeps float within a few ulp everywhere). With s = sigmoid(2u),
// 1 - tanh^2 u = 4 s (1 - s), so the derivative is s + 2 x s (1 - s) sqrt(2/pi) (1 + 3*0.044715 x^2).
#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

constexpr float kGeluK = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kSqrtHalf = 0.70710678118654752f;   // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1 / sqrt(2 pi)
constexpr int kThreads = 256;

__device__ __forceinline__ float sigmoid_2u(float x) {
  const float u = kGeluK * (x + 0.044715f * x * x * x);
  return 1.0f / (1.0f + expf(-2.0f * u));
}

__global__ void gelu_forward_kernel(float *out, const float *inp, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = inp[i];
    out[i] = x * sigmoid_2u(x);
  }
}

__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = inp[i];
    float d;
    if (fabsf(x) > 10.0f) {
      d = x > 0.0f ? 1.0f : 0.0f;  // s (1 - s) < 1e-37 there; avoids 0 * inf for huge |x|
    } else {
      const float s = sigmoid_2u(x);
      d = s + 2.0f * x * s * (1.0f - s) * kGeluK * (1.0f + 3.0f * 0.044715f * x * x);
    }
    dinp[i] += dout[i] * d;
  }
}

// exact GELU: Phi(x) = erfc(-x / sqrt 2) / 2 with CUDA's erfcf (max 4 ulp), no cancellation for x < 0
__global__ void gelu_erf_forward_kernel(float *out, const float *inp, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = inp[i];
    out[i] = x * 0.5f * erfcf(-x * kSqrtHalf);
  }
}

__global__ void gelu_erf_backward_kernel(float *dinp, const float *inp, const float *dout, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = inp[i];
    const float d = 0.5f * erfcf(-x * kSqrtHalf) + x * expf(-0.5f * x * x) * kInvSqrt2Pi;
    dinp[i] += dout[i] * d;
  }
}

__global__ void add_kernel(float *out, const float *a, const float *b, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = a[i] + b[i];
}

__global__ void scale_kernel(float *x, float s, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] *= s;
}

}  // namespace

void gelu_forward(CudaContext &ctx, float *out, const float *inp, int64_t n) {
  if (n == 0) return;
  activate(ctx);
  gelu_forward_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(out, inp, n);
  check_launch(ctx, "fl_gelu_forward/gelu_forward_kernel");
}

void gelu_backward(CudaContext &ctx, float *dinp, const float *inp, const float *dout, int64_t n) {
  if (n == 0 || dinp == nullptr) return;
  activate(ctx);
  gelu_backward_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(dinp, inp, dout, n);
  check_launch(ctx, "fl_gelu_backward/gelu_backward_kernel");
}

void gelu_erf_forward(CudaContext &ctx, float *out, const float *inp, int64_t n) {
  if (n == 0) return;
  activate(ctx);
  gelu_erf_forward_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(out, inp, n);
  check_launch(ctx, "fl_gelu_erf_forward/gelu_erf_forward_kernel");
}

void gelu_erf_backward(CudaContext &ctx, float *dinp, const float *inp, const float *dout, int64_t n) {
  if (n == 0 || dinp == nullptr) return;
  activate(ctx);
  gelu_erf_backward_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(dinp, inp, dout,
                                                                                      n);
  check_launch(ctx, "fl_gelu_erf_backward/gelu_erf_backward_kernel");
}

void add(CudaContext &ctx, float *out, const float *a, const float *b, int64_t n) {
  if (n == 0) return;
  activate(ctx);
  add_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(out, a, b, n);
  check_launch(ctx, "fl_add/add_kernel");
}

void scale(CudaContext &ctx, float *x, float s, int64_t n) {
  if (n == 0) return;
  activate(ctx);
  scale_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(x, s, n);
  check_launch(ctx, "fl_scale/scale_kernel");
}

}  // namespace cuda
}  // namespace fl
