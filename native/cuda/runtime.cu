// The CUDA backend's runtime side: device discovery, contexts (device + non-blocking stream),
// memory, and the per-context scratch and pinned staging buffers.
//
// cudart is linked statically, so this code runs on machines with no NVIDIA driver: every runtime
// call then fails with cudaErrorInsufficientDriver / cudaErrorNoDevice, which device_count reports
// as "not available" and context_create as FL_ERR_UNSUPPORTED. Nothing here aborts.
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

bool env_flag(const char *name) {
  const char *v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

int device_count(const char **reason) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear, so later calls do not see it
    if (reason != nullptr) *reason = cudaGetErrorString(err);
    return 0;
  }
  if (n == 0 && reason != nullptr) *reason = "no CUDA device";
  return n;
}

bool available() {
  if (device_count(nullptr) == 0) return false;
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return major >= 8;
}

CudaContext *context_create(int device) {
  const char *reason = nullptr;
  const int n = device_count(&reason);
  if (n == 0)
    throw Error(FL_ERR_UNSUPPORTED,
                std::string("fl_context_create: the CUDA backend is not available here: ") + reason);
  if (device < 0 || device >= n)
    throw Error(FL_ERR_INVALID_ARGUMENT, "fl_context_create: CUDA device " + std::to_string(device) +
                                             " does not exist (" + std::to_string(n) + " present)");
  CudaContext *ctx = new CudaContext();
  ctx->device = device;
  try {
    check(cudaSetDevice(device), "fl_context_create/cudaSetDevice");
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, device), "fl_context_create/cudaGetDeviceProperties");
    ctx->sm_count = prop.multiProcessorCount;
    ctx->cc_major = prop.major;
    ctx->cc_minor = prop.minor;
    if (prop.major < 8)
      throw Error(FL_ERR_UNSUPPORTED, "fl_context_create: CUDA device " + std::to_string(device) +
                                          " (" + prop.name + ") has compute capability " +
                                          std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                                          "; this build needs 8.0 or newer");
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "fl_context_create/cudaStreamCreate");
    ctx->stream = s;
    cudaEvent_t e = nullptr;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "fl_context_create/cudaEventCreate");
    ctx->stage_event = e;
    ctx->tf32 = env_flag("FUSELM_CUDA_TF32");
    ctx->sync_each_launch = env_flag("FUSELM_CUDA_SYNC");
  } catch (...) {
    context_destroy(ctx);
    throw;
  }
  return ctx;
}

void context_destroy(CudaContext *ctx) {
  if (ctx == nullptr) return;
  cudaSetDevice(ctx->device);
  if (ctx->stream != nullptr) cudaStreamSynchronize(static_cast<cudaStream_t>(ctx->stream));
  if (ctx->scratch != nullptr) cudaFree(ctx->scratch);
  if (ctx->host_stage != nullptr) cudaFreeHost(ctx->host_stage);
  if (ctx->stage_event != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(ctx->stage_event));
  if (ctx->stream != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(ctx->stream));
  cudaGetLastError();
  delete ctx;
}

void synchronize(CudaContext &ctx) {
  activate(ctx);
  cudaError_t err = cudaStreamSynchronize(stream_of(ctx));
  if (err != cudaSuccess)
    throw_cuda("fl_context_synchronize: a kernel failed (run with FUSELM_CUDA_SYNC=1 to name it)", err);
}

void *malloc_zeroed(CudaContext &ctx, int64_t bytes) {
  activate(ctx);
  // cudaMalloc aligns to 256 bytes (the header promises 64); never ask for 0 bytes.
  const size_t size = static_cast<size_t>(bytes > 0 ? (bytes + 255) / 256 * 256 : 256);
  void *p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw Error(FL_ERR_OUT_OF_MEMORY, "fl_malloc: cannot allocate " + std::to_string(bytes) +
                                          " bytes on CUDA device " + std::to_string(ctx.device) +
                                          ": " + cudaGetErrorString(err));
  }
  err = cudaMemsetAsync(p, 0, size, stream_of(ctx));
  if (err != cudaSuccess) {
    cudaFree(p);
    throw_cuda("fl_malloc/cudaMemsetAsync", err);
  }
  return p;
}

void free(CudaContext &ctx, void *ptr) {
  if (ptr == nullptr) return;
  activate(ctx);
  // Work queued on the stream may still use ptr; cudaFree synchronises the device, but say so.
  check(cudaStreamSynchronize(stream_of(ctx)), "fl_free/cudaStreamSynchronize");
  check(cudaFree(ptr), "fl_free/cudaFree");
}

void memset_zero(CudaContext &ctx, void *ptr, int64_t bytes) {
  if (bytes <= 0) return;
  activate(ctx);
  check(cudaMemsetAsync(ptr, 0, static_cast<size_t>(bytes), stream_of(ctx)), "fl_memset_zero/cudaMemsetAsync");
}

void memcpy(CudaContext &ctx, void *dst, const void *src, int64_t bytes, int kind) {
  if (bytes <= 0) return;
  activate(ctx);
  static const cudaMemcpyKind kinds[3] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                          cudaMemcpyDeviceToDevice};
  check(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), kinds[kind], stream_of(ctx)),
        "fl_memcpy/cudaMemcpyAsync");
  // Host buffers belong to the caller once we return: finish copies that touch them.
  if (kind != 2) check(cudaStreamSynchronize(stream_of(ctx)), "fl_memcpy/cudaStreamSynchronize");
}

void *scratch(CudaContext &ctx, int64_t bytes) {
  if (bytes <= ctx.scratch_bytes) return ctx.scratch;
  int64_t want = ctx.scratch_bytes * 2 > bytes ? ctx.scratch_bytes * 2 : bytes;
  want = (want + 255) / 256 * 256;
  if (ctx.scratch != nullptr) {
    // queued kernels may still read the old buffer
    check(cudaStreamSynchronize(stream_of(ctx)), "scratch/cudaStreamSynchronize");
    check(cudaFree(ctx.scratch), "scratch/cudaFree");
    ctx.scratch = nullptr;
    ctx.scratch_bytes = 0;
  }
  void *p = nullptr;
  cudaError_t err = cudaMalloc(&p, static_cast<size_t>(want));
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw Error(FL_ERR_OUT_OF_MEMORY, "CUDA scratch: cannot allocate " + std::to_string(want) +
                                          " bytes: " + cudaGetErrorString(err));
  }
  ctx.scratch = p;
  ctx.scratch_bytes = want;
  return p;
}

void *upload_to_scratch(CudaContext &ctx, const void *host, int64_t bytes, int64_t offset) {
  char *dev = static_cast<char *>(scratch(ctx, offset + bytes)) + offset;
  if (bytes <= 0) return dev;
  cudaEvent_t ev = static_cast<cudaEvent_t>(ctx.stage_event);
  // the previous upload must have left the staging buffer before we overwrite it
  check(cudaEventSynchronize(ev), "upload/cudaEventSynchronize");
  if (bytes > ctx.host_stage_bytes) {
    if (ctx.host_stage != nullptr) check(cudaFreeHost(ctx.host_stage), "upload/cudaFreeHost");
    ctx.host_stage = nullptr;
    ctx.host_stage_bytes = 0;
    const int64_t want = bytes < 4096 ? 4096 : (bytes + 4095) / 4096 * 4096;
    check(cudaMallocHost(&ctx.host_stage, static_cast<size_t>(want)), "upload/cudaMallocHost");
    ctx.host_stage_bytes = want;
  }
  std::memcpy(ctx.host_stage, host, static_cast<size_t>(bytes));
  check(cudaMemcpyAsync(dev, ctx.host_stage, static_cast<size_t>(bytes), cudaMemcpyHostToDevice,
                        stream_of(ctx)),
        "upload/cudaMemcpyAsync");
  check(cudaEventRecord(ev, stream_of(ctx)), "upload/cudaEventRecord");
  return dev;
}

void store_scalar(CudaContext &ctx, void *dst, const void *src, int64_t bytes, const char *where) {
  cudaPointerAttributes attr;
  cudaError_t err = cudaPointerGetAttributes(&attr, dst);
  if (err != cudaSuccess) {
    cudaGetLastError();  // older runtimes reject plain host pointers: treat as host memory
    attr.type = cudaMemoryTypeUnregistered;
  }
  if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged) {
    check(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice,
                          stream_of(ctx)),
          where);
  } else {
    check(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost,
                          stream_of(ctx)),
          where);
    check(cudaStreamSynchronize(stream_of(ctx)), where);
  }
}

}  // namespace cuda
}  // namespace fl
