// bf16 <-> fp32 conversion of whole arrays (bf16 weights for generation): grid-stride loops. The
// narrowing is the CPU backend's bit formulation (native/cpu/bf16.h): round to nearest, ties to
// even, NaN kept a quiet NaN of the same sign; the same bits as __float2bfloat16_rn.
#include <cstdint>

#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__global__ void f32_to_bf16_kernel(uint16_t *dst, const float *src, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    unsigned u = __float_as_uint(src[i]);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      dst[i] = static_cast<uint16_t>((u >> 16) | 0x0040u);
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      dst[i] = static_cast<uint16_t>(u >> 16);
    }
  }
}

__global__ void bf16_to_f32_kernel(float *dst, const uint16_t *src, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = __uint_as_float(static_cast<unsigned>(src[i]) << 16);
}

}  // namespace

void f32_to_bf16(CudaContext &ctx, uint16_t *dst, const float *src, int64_t n) {
  if (n == 0) return;
  activate(ctx);
  f32_to_bf16_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(dst, src, n);
  check_launch(ctx, "fl_f32_to_bf16/f32_to_bf16_kernel");
}

void bf16_to_f32(CudaContext &ctx, float *dst, const uint16_t *src, int64_t n) {
  if (n == 0) return;
  activate(ctx);
  bf16_to_f32_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(dst, src, n);
  check_launch(ctx, "fl_bf16_to_f32/bf16_to_f32_kernel");
}

}  // namespace cuda
}  // namespace fl
