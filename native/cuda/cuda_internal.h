// The CUDA backend as the API layer sees it: a context (device, stream, scratch) and one function per
// op, mirroring fl::cpu:: with a CudaContext in place of the CpuContext. Plain C++: this header does
// not include the CUDA headers, so api.cpp is compiled by the host compiler alone.
//
// Pointers passed to the ops are device pointers, except where fuselm.h says host memory: the AdamW
// segment table, and the scalar results of fl_grad_norm (*out) and fl_cross_entropy_forward
// (*mean_loss, *count), which may be host or device memory (the Java layer passes host arrays; a
// device pointer is detected and written on the device).
//
// Every failure throws fl::Error(FL_ERR_DEVICE or FL_ERR_OUT_OF_MEMORY, "<op>/<kernel>: <CUDA
// error string>"); the API layer turns it into a status code and fl_last_error(). Nothing aborts.
#pragma once

#include <cstdint>

#include "internal.h"

namespace fl {
namespace cuda {

// Owned by fl_context; created by context_create, released by context_destroy.
struct CudaContext {
  int device = 0;
  void *stream = nullptr;        // cudaStream_t, non-blocking, owned
  void *scratch = nullptr;       // device scratch (partial sums, segment tables), grown on demand
  int64_t scratch_bytes = 0;
  void *host_stage = nullptr;    // pinned host staging for small host->device uploads
  int64_t host_stage_bytes = 0;
  void *stage_event = nullptr;   // cudaEvent_t: the last upload from host_stage has been consumed
  int sm_count = 1;
  int cc_major = 0, cc_minor = 0;
  bool tf32 = false;             // GEMM on TF32 tensor cores (FUSELM_CUDA_TF32=1), else fp32 SIMT
  bool sync_each_launch = false; // FUSELM_CUDA_SYNC=1: synchronise after every kernel (debugging)
};

// The number of CUDA devices the runtime sees (0 without a driver or GPU); never throws. reason (if
// non-null) receives a short explanation when it returns 0.
int device_count(const char **reason);
// True when device 0 exists and this build can run on it (compute capability 8.0 or newer): what
// fl_backend_available(FL_BACKEND_CUDA) reports. Never throws.
bool available();

// Creates a context on the given device; throws fl::Error(FL_ERR_UNSUPPORTED) when there is no
// driver or device, FL_ERR_INVALID_ARGUMENT for a bad device index.
CudaContext *context_create(int device);
void context_destroy(CudaContext *ctx);  // never throws
void synchronize(CudaContext &ctx);

void *malloc_zeroed(CudaContext &ctx, int64_t bytes);
void free(CudaContext &ctx, void *ptr);
void memset_zero(CudaContext &ctx, void *ptr, int64_t bytes);
// kind: 0 host->device, 1 device->host, 2 device->device (as fl_memcpy)
void memcpy(CudaContext &ctx, void *dst, const void *src, int64_t bytes, int kind);

// ---- ops: same arguments and semantics as fl::ref::, generated from include/fuselm_ops.def (the
// ops marked ALL; HOST ops have no CUDA kernel) ----------------------------------------------
#define FL_CUDA_KERNEL_ALL(name, params) void name(CudaContext &ctx, FL_UNPAREN_ params);
#define FL_CUDA_KERNEL_HOST(name, params)
#define FL_KERNEL(name, where, params, args) FL_CUDA_KERNEL_##where(name, params)
#include "fuselm_ops.def"
#undef FL_KERNEL

}  // namespace cuda
}  // namespace fl
