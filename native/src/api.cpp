// The C API: argument sanity, backend dispatch, and turning C++ failures into status codes.
#include "fuselm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include "internal.h"
#include "threads.h"
#ifdef FUSELM_HAVE_CUDA
#include "cuda_internal.h"
#endif

#ifndef FUSELM_VERSION
#define FUSELM_VERSION "0.0.0"
#endif

struct fl_context {
  int backend;
  int device;
  fl::CpuContext cpu;
  fl::ThreadPool *pool;
  const fl::OpTable *ops;  // the backend's kernels, chosen once at creation
#ifdef FUSELM_HAVE_CUDA
  fl::cuda::CudaContext *cuda = nullptr;  // set for FL_BACKEND_CUDA
#endif
};

namespace {

thread_local std::string last_error;

int fail(int status, const std::string &msg) {
  last_error = msg;
  return status;
}

int available_cores() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Resizes the context's pool to threads - 1 workers (the caller is the remaining thread).
void set_threads(fl_context *ctx, int threads) {
  if (threads <= 0) threads = available_cores();
  delete ctx->pool;
  ctx->pool = threads > 1 ? new fl::ThreadPool(threads - 1) : nullptr;
  ctx->cpu.threads = threads;
  ctx->cpu.pool = ctx->pool;
}

}  // namespace

#define FL_TRY try {
#define FL_CATCH                                                              \
  }                                                                           \
  catch (const fl::Error &e) {                                                \
    return fail(e.status, e.what());                                          \
  }                                                                           \
  catch (const std::bad_alloc &) {                                            \
    return fail(FL_ERR_OUT_OF_MEMORY, std::string(__func__) + ": out of memory"); \
  }                                                                           \
  catch (const std::exception &e) {                                           \
    return fail(FL_ERR_INTERNAL, std::string(__func__) + ": " + e.what());    \
  }                                                                           \
  catch (...) {                                                               \
    return fail(FL_ERR_INTERNAL, std::string(__func__) + ": unknown failure"); \
  }                                                                           \
  return FL_OK;

#define FL_CHECK_CTX                                                           \
  if (ctx == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, std::string(__func__) + ": null context");

#define FL_CHECK_NONNEG(x)                                                     \
  if ((x) < 0)                                                                 \
    return fail(FL_ERR_INVALID_ARGUMENT,                                       \
                std::string(__func__) + ": " #x " = " + std::to_string(x) + " is negative");

// Argument checks used by the checks column of fuselm_ops.def (each returns from the wrapper).
#define FL_CHECK_STATUS(expr)                                                  \
  {                                                                            \
    int st_ = (expr);                                                          \
    if (st_ != FL_OK) return st_;                                              \
  }
#define FL_CHECK_HEADS(C, NH)                                                  \
  if ((NH) <= 0 || (C) % (NH) != 0)                                            \
    return fail(FL_ERR_INVALID_ARGUMENT, std::string(__func__) + ": C = " + std::to_string(C) + \
                                             " is not a positive multiple of NH = " + std::to_string(NH));
#define FL_CHECK_DROPOUT(p)                                                    \
  if (!((p) >= 0.f && (p) < 1.f))                                              \
    return fail(FL_ERR_INVALID_ARGUMENT,                                       \
                std::string(__func__) + ": p = " + std::to_string(p) + " is not in [0, 1)");
#define FL_CHECK_NOT_NULL(x)                                                   \
  if ((x) == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, std::string(__func__) + ": null " #x);
#define FL_CHECK_NOT_NULL2(x, y)                                               \
  if ((x) == nullptr || (y) == nullptr)                                        \
    return fail(FL_ERR_INVALID_ARGUMENT, std::string(__func__) + ": null " #x " or " #y);
#define FL_CHECK_LEADING(cond, what)                                           \
  if (cond) return fail(FL_ERR_INVALID_ARGUMENT, std::string(__func__) + ": " what);
#define FL_CHECK_ACT(act)                                                      \
  if ((act) < FL_ACT_NONE || (act) > FL_ACT_GELU_ERF)                          \
    return fail(FL_ERR_INVALID_ARGUMENT, std::string(__func__) + ": unknown act " + std::to_string(act));
#define FL_CHECK_Q8_SHAPE(K, N)                                                \
  FL_CHECK_NONNEG(K) FL_CHECK_NONNEG(N)                                        \
  if ((K) % 32 != 0)                                                           \
    return fail(FL_ERR_INVALID_ARGUMENT, std::string(__func__) + ": K = " +    \
                std::to_string(K) + " is not a multiple of the Q8_0 block of 32");

namespace {

int unsupported(const char *fn, int backend) {
  return fail(FL_ERR_UNSUPPORTED, std::string(fn) + ": backend " + std::to_string(backend) +
                                      " has no kernel for this op (fl_backend_supports)");
}

int check_cached(const char *fn, int64_t T, int64_t Tmax, int64_t Tq) {
  if (T > Tmax || Tq > T)
    return fail(FL_ERR_INVALID_ARGUMENT, std::string(fn) + ": need Tq <= T <= Tmax, got Tq = " +
                                             std::to_string(Tq) + ", T = " + std::to_string(T) +
                                             ", Tmax = " + std::to_string(Tmax));
  return FL_OK;
}

int check_cu_seqlens(const char *fn, const int32_t *cu_seqlens, int64_t nseq) {
  if (cu_seqlens == nullptr || cu_seqlens[0] != 0)
    return fail(FL_ERR_INVALID_ARGUMENT, std::string(fn) + ": cu_seqlens must start at 0");
  for (int64_t s = 0; s < nseq; s++)
    if (cu_seqlens[s + 1] < cu_seqlens[s])
      return fail(FL_ERR_INVALID_ARGUMENT, std::string(fn) + ": cu_seqlens decreases at " +
                                               std::to_string(s + 1));
  return FL_OK;
}

int check_adamw(int64_t t, int64_t n, const int64_t *seg_offsets, const uint8_t *seg_decay,
                int64_t nseg) {
  if (t < 1) return fail(FL_ERR_INVALID_ARGUMENT, "fl_adamw_step: step t must be >= 1, got " + std::to_string(t));
  if (seg_offsets == nullptr || seg_decay == nullptr || seg_offsets[0] != 0 || seg_offsets[nseg] != n)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_adamw_step: seg_offsets must run from 0 to n");
  // the CPU kernel finds segments by binary search: decreasing offsets would index outside them
  for (int64_t s = 0; s < nseg; s++) {
    if (seg_offsets[s] > seg_offsets[s + 1])
      return fail(FL_ERR_INVALID_ARGUMENT, "fl_adamw_step: seg_offsets must not decrease, but [" +
                                               std::to_string(s) + "] = " + std::to_string(seg_offsets[s]) +
                                               " > [" + std::to_string(s + 1) + "] = " +
                                               std::to_string(seg_offsets[s + 1]));
  }
  return FL_OK;
}

// ---- the per-backend op tables, generated from fuselm_ops.def -----------------------------
namespace ref_ops {
#define FL_KERNEL(name, where, params, args) \
  void name(fl_context *, FL_UNPAREN_ params) { fl::ref::name(FL_UNPAREN_ args); }
#include "fuselm_ops.def"
#undef FL_KERNEL
}  // namespace ref_ops

namespace cpu_ops {
#define FL_KERNEL(name, where, params, args) \
  void name(fl_context *ctx, FL_UNPAREN_ params) { fl::cpu::name(ctx->cpu, FL_UNPAREN_ args); }
#include "fuselm_ops.def"
#undef FL_KERNEL
}  // namespace cpu_ops

const fl::OpTable kRefOps = {
#define FL_KERNEL(name, where, params, args) &ref_ops::name,
#include "fuselm_ops.def"
#undef FL_KERNEL
};

const fl::OpTable kCpuOps = {
#define FL_KERNEL(name, where, params, args) &cpu_ops::name,
#include "fuselm_ops.def"
#undef FL_KERNEL
};

#ifdef FUSELM_HAVE_CUDA
namespace cuda_ops {
#define FL_CUDA_THUNK_ALL(name, params, args) \
  void name(fl_context *ctx, FL_UNPAREN_ params) { fl::cuda::name(*ctx->cuda, FL_UNPAREN_ args); }
#define FL_CUDA_THUNK_HOST(name, params, args)
#define FL_KERNEL(name, where, params, args) FL_CUDA_THUNK_##where(name, params, args)
#include "fuselm_ops.def"
#undef FL_KERNEL
}  // namespace cuda_ops

const fl::OpTable kCudaOps = {
#define FL_CUDA_SLOT_ALL(name) &cuda_ops::name,
#define FL_CUDA_SLOT_HOST(name) nullptr,
#define FL_KERNEL(name, where, params, args) FL_CUDA_SLOT_##where(name)
#include "fuselm_ops.def"
#undef FL_KERNEL
};
#endif

// The table of a backend this build has, else null.
const fl::OpTable *ops_of(int backend) {
  switch (backend) {
    case FL_BACKEND_REFERENCE: return &kRefOps;
    case FL_BACKEND_CPU: return &kCpuOps;
#ifdef FUSELM_HAVE_CUDA
    case FL_BACKEND_CUDA: return &kCudaOps;
#endif
    default: return nullptr;
  }
}

}  // namespace

extern "C" {

const char *fl_last_error(void) { return last_error.c_str(); }

const char *fl_version(void) { return FUSELM_VERSION; }

int fl_backend_available(int backend, int *out) {
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_backend_available: null out");
  *out = backend == FL_BACKEND_REFERENCE || backend == FL_BACKEND_CPU;
#ifdef FUSELM_HAVE_CUDA
  if (backend == FL_BACKEND_CUDA) *out = fl::cuda::available();
#endif
  return FL_OK;
}

int fl_cpu_best_isa(int *out) {
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_cpu_best_isa: null out");
  *out = fl::cpu_best_isa();
  return FL_OK;
}

int fl_context_create(int backend, int device, fl_context **out) {
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_context_create: null out");
  *out = nullptr;
#ifdef FUSELM_HAVE_CUDA
  if (backend == FL_BACKEND_CUDA) {
    FL_TRY
    // a CUDA context keeps one CPU thread (the caller); its kernels run on the device
    fl_context *ctx = new fl_context{backend, device, fl::CpuContext{1, fl::cpu_best_isa(), nullptr, fl::cpu::kernels_for_isa(fl::cpu_best_isa())}, nullptr,
                                   ops_of(backend)};
    try {
      ctx->cuda = fl::cuda::context_create(device);
    } catch (...) {
      delete ctx;
      throw;
    }
    *out = ctx;
    FL_CATCH
  }
#endif
  if (backend != FL_BACKEND_REFERENCE && backend != FL_BACKEND_CPU)
    return fail(FL_ERR_UNSUPPORTED, "fl_context_create: backend " + std::to_string(backend) +
                                        " is not available in this build");
  if (device != 0)
    return fail(FL_ERR_INVALID_ARGUMENT,
                "fl_context_create: the CPU backends have only device 0, got " + std::to_string(device));
  FL_TRY
  fl_context *ctx = new fl_context{backend, device, fl::CpuContext{1, fl::cpu_best_isa(), nullptr, fl::cpu::kernels_for_isa(fl::cpu_best_isa())}, nullptr,
                                   ops_of(backend)};
  set_threads(ctx, 0);
  *out = ctx;
  FL_CATCH
}

int fl_context_destroy(fl_context *ctx) {
  if (ctx == nullptr) return FL_OK;
#ifdef FUSELM_HAVE_CUDA
  fl::cuda::context_destroy(ctx->cuda);
#endif
  delete ctx->pool;
  delete ctx;
  return FL_OK;
}

int fl_context_set_threads(fl_context *ctx, int threads) {
  FL_CHECK_CTX
  FL_TRY
  set_threads(ctx, threads);
  FL_CATCH
}

int fl_context_threads(const fl_context *ctx, int *out) {
  FL_CHECK_CTX
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_context_threads: null out");
  *out = ctx->cpu.threads;
  return FL_OK;
}

int fl_context_set_isa(fl_context *ctx, int isa) {
  FL_CHECK_CTX
  int best = fl::cpu_best_isa();
  if (isa < FL_ISA_GENERIC || isa > best)
    return fail(FL_ERR_UNSUPPORTED, "fl_context_set_isa: ISA level " + std::to_string(isa) +
                                        " is not supported here (best is " + std::to_string(best) + ")");
  ctx->cpu.isa = isa;
  ctx->cpu.kernels = fl::cpu::kernels_for_isa(isa);
  return FL_OK;
}

int fl_context_isa(const fl_context *ctx, int *out) {
  FL_CHECK_CTX
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_context_isa: null out");
  *out = ctx->cpu.isa;
  return FL_OK;
}

int fl_context_synchronize(fl_context *ctx) {
  FL_CHECK_CTX
#ifdef FUSELM_HAVE_CUDA
  if (ctx->backend == FL_BACKEND_CUDA) {
    FL_TRY
    fl::cuda::synchronize(*ctx->cuda);
    FL_CATCH
  }
#endif
  return FL_OK;
}

int fl_malloc(fl_context *ctx, int64_t bytes, void **out) {
  FL_CHECK_CTX
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_malloc: null out");
  *out = nullptr;
  FL_CHECK_NONNEG(bytes)
#ifdef FUSELM_HAVE_CUDA
  if (ctx->backend == FL_BACKEND_CUDA) {
    FL_TRY
    *out = fl::cuda::malloc_zeroed(*ctx->cuda, bytes);
    FL_CATCH
  }
#endif
  // aligned_alloc needs a size that is a multiple of the alignment; never ask for 0 bytes.
  size_t size = static_cast<size_t>((bytes + 63) / 64 * 64);
  if (size == 0) size = 64;
  void *p = std::aligned_alloc(64, size);
  if (p == nullptr)
    return fail(FL_ERR_OUT_OF_MEMORY, "fl_malloc: cannot allocate " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, size);
  *out = p;
  return FL_OK;
}

int fl_free(fl_context *ctx, void *ptr) {
  FL_CHECK_CTX
#ifdef FUSELM_HAVE_CUDA
  if (ctx->backend == FL_BACKEND_CUDA) {
    FL_TRY
    fl::cuda::free(*ctx->cuda, ptr);
    FL_CATCH
  }
#endif
  std::free(ptr);
  return FL_OK;
}

int fl_memset_zero(fl_context *ctx, void *ptr, int64_t bytes) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(bytes)
#ifdef FUSELM_HAVE_CUDA
  if (ctx->backend == FL_BACKEND_CUDA) {
    FL_TRY
    fl::cuda::memset_zero(*ctx->cuda, ptr, bytes);
    FL_CATCH
  }
#endif
  // Large buffers (the gradient slab, zeroed every training step) are split over the CPU
  // context's threads: one thread alone leaves the other cores idle for the whole memset.
  constexpr int64_t kZeroChunk = int64_t{1} << 20;
  if (ctx->backend == FL_BACKEND_CPU && bytes >= 4 * kZeroChunk && ctx->cpu.threads > 1) {
    char *p = static_cast<char *>(ptr);
    fl::parallel_for(ctx->cpu, (bytes + kZeroChunk - 1) / kZeroChunk, 1, [&](int64_t b, int64_t e) {
      const int64_t lo = b * kZeroChunk, hi = std::min(bytes, e * kZeroChunk);
      std::memset(p + lo, 0, static_cast<size_t>(hi - lo));
    });
    return FL_OK;
  }
  if (bytes > 0) std::memset(ptr, 0, static_cast<size_t>(bytes));
  return FL_OK;
}

int fl_memcpy(fl_context *ctx, void *dst, const void *src, int64_t bytes, int kind) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(bytes)
  if (kind < 0 || kind > 2)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_memcpy: kind must be 0, 1 or 2, got " + std::to_string(kind));
#ifdef FUSELM_HAVE_CUDA
  if (ctx->backend == FL_BACKEND_CUDA) {
    FL_TRY
    fl::cuda::memcpy(*ctx->cuda, dst, src, bytes, kind);
    FL_CATCH
  }
#endif
  if (bytes > 0) std::memmove(dst, src, static_cast<size_t>(bytes));
  return FL_OK;
}

// ---- the ops: one wrapper per FL_OP / FL_API line of fuselm_ops.def ---------------------------
// Each checks the context, runs the line's checks (macros above), then calls the kernel through
// the context's table; a backend without that kernel answers FL_ERR_UNSUPPORTED.
#define FL_API(name, kernel, where, params, kernel_args, checks)                     \
  int fl_##name(fl_context *ctx, FL_UNPAREN_ params) {                               \
    FL_CHECK_CTX                                                                     \
    FL_UNPAREN_ checks                                                               \
    if (ctx->ops->kernel == nullptr) return unsupported(__func__, ctx->backend);     \
    FL_TRY                                                                           \
    ctx->ops->kernel(ctx, FL_UNPAREN_ kernel_args);                                  \
    FL_CATCH                                                                         \
  }
#include "fuselm_ops.def"
#undef FL_API

int fl_backend_supports(int backend, const char *op, int *out) {
  if (out == nullptr || op == nullptr)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_backend_supports: null op or out");
  *out = 0;
  if (std::strncmp(op, "fl_", 3) == 0) op += 3;
  const fl::OpTable *table = ops_of(backend);
#define FL_API(name, kernel, where, params, kernel_args, checks)                     \
  if (std::strcmp(op, #name) == 0) {                                                 \
    *out = table != nullptr && table->kernel != nullptr;                             \
    return FL_OK;                                                                    \
  }
#include "fuselm_ops.def"
#undef FL_API
  return fail(FL_ERR_INVALID_ARGUMENT, std::string("fl_backend_supports: no op named ") + op);
}

int fl_q8_0_packed_bytes(int64_t K, int64_t N, int64_t *out) {
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_q8_0_packed_bytes: null out");
  FL_CHECK_Q8_SHAPE(K, N)
  *out = (N + 15) / 16 * (K / 32) * 544;
  return FL_OK;
}

}  // extern "C"
