// Shared plumbing of the CUDA kernels: error checks that throw fl::Error (never abort), launch
// checks naming the kernel, block reductions, the context's scratch buffer, and scalar results that
// may live on the host or the device.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda_internal.h"
#include "fuselm.h"

namespace fl {
namespace cuda {

[[noreturn]] inline void throw_cuda(const char *where, cudaError_t err) {
  const int status = err == cudaErrorMemoryAllocation ? FL_ERR_OUT_OF_MEMORY : FL_ERR_DEVICE;
  throw Error(status, std::string(where) + ": " + cudaGetErrorName(err) + ": " +
                          cudaGetErrorString(err));
}

// Checks a CUDA runtime call; `where` names the op and the call ("fl_sgemm/cudaMemcpyAsync").
inline void check(cudaError_t err, const char *where) {
  if (err != cudaSuccess) throw_cuda(where, err);
}

inline cudaStream_t stream_of(const CudaContext &ctx) { return static_cast<cudaStream_t>(ctx.stream); }

// Called after every launch: a bad configuration shows here, an execution fault shows at the next
// synchronising call unless FUSELM_CUDA_SYNC=1 makes every launch synchronise (then the message
// names the kernel that faulted).
inline void check_launch(const CudaContext &ctx, const char *kernel) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && ctx.sync_each_launch) err = cudaStreamSynchronize(stream_of(ctx));
  if (err != cudaSuccess) throw_cuda(kernel, err);
}

// Makes the context's device current for this thread (cheap; needed when one thread drives
// contexts on several devices).
inline void activate(const CudaContext &ctx) { check(cudaSetDevice(ctx.device), "cudaSetDevice"); }

// Device scratch of at least `bytes`, valid until the next call that asks for scratch on this
// context. Kernels on the context's stream are ordered, so reuse by the next op is safe.
void *scratch(CudaContext &ctx, int64_t bytes);

// Copies `bytes` of host memory to device scratch at `offset` through pinned staging, so the
// caller's host buffer may change as soon as this returns. Returns the device address.
void *upload_to_scratch(CudaContext &ctx, const void *host, int64_t bytes, int64_t offset);

// Writes a scalar computed on the device (at device address src) to dst, which may be host memory
// (copied back synchronously) or device memory (copied on the stream).
void store_scalar(CudaContext &ctx, void *dst, const void *src, int64_t bytes, const char *where);

inline unsigned blocks_for(int64_t n, int threads, int64_t cap = 65535LL * 8) {
  int64_t b = (n + threads - 1) / threads;
  if (b > cap) b = cap;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b);
}

// ---- device helpers --------------------------------------------------------------------------

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. `shared` holds 32 values. Deterministic: a fixed tree for a fixed block size.
template <typename T>
__device__ T block_sum(T v, T *shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // shared may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < nwarps ? shared[lane] : T(0);
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float *shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < nwarps ? shared[lane] : -INFINITY;
  return warp_max(v);
}

}  // namespace cuda
}  // namespace fl
