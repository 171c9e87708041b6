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

// Calls the op of the context's backend.
#ifdef FUSELM_HAVE_CUDA
#define FL_CUDA_CASE(op, ...)                                                  \
    case FL_BACKEND_CUDA:                                                      \
      fl::cuda::op(*ctx->cuda, __VA_ARGS__);                                   \
      break;
#else
#define FL_CUDA_CASE(op, ...)
#endif
#define FL_DISPATCH(op, ...)                                                   \
  switch (ctx->backend) {                                                      \
    case FL_BACKEND_REFERENCE:                                                 \
      fl::ref::op(__VA_ARGS__);                                                \
      break;                                                                   \
    case FL_BACKEND_CPU:                                                       \
      fl::cpu::op(ctx->cpu, __VA_ARGS__);                                      \
      break;                                                                   \
    FL_CUDA_CASE(op, __VA_ARGS__)                                              \
    default:                                                                   \
      return fail(FL_ERR_UNSUPPORTED, std::string(__func__) + ": backend " +   \
                                          std::to_string(ctx->backend) + " is not available"); \
  }

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
    fl_context *ctx = new fl_context{backend, device, fl::CpuContext{1, fl::cpu_best_isa(), nullptr}, nullptr};
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
  fl_context *ctx = new fl_context{backend, device, fl::CpuContext{1, fl::cpu_best_isa(), nullptr}, nullptr};
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

int fl_sgemm(fl_context *ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(M) FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(K)
  FL_TRY
  FL_DISPATCH(sgemm, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
  FL_CATCH
}

int fl_sgemm_bias(fl_context *ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                  const float *A, int64_t lda, const float *B, int64_t ldb, const float *bias,
                  float *C, int64_t ldc) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(M) FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(K)
  FL_TRY
  FL_DISPATCH(sgemm_bias, trans_a, trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc)
  FL_CATCH
}

int fl_bias_backward(fl_context *ctx, float *dbias, const float *dout, int64_t M, int64_t N) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(M) FL_CHECK_NONNEG(N)
  FL_TRY
  FL_DISPATCH(bias_backward, dbias, dout, M, N)
  FL_CATCH
}

int fl_layernorm_forward(fl_context *ctx, float *out, float *mean, float *rstd, const float *inp,
                         const float *weight, const float *bias, int64_t N, int64_t C, float eps) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(C)
  FL_TRY
  FL_DISPATCH(layernorm_forward, out, mean, rstd, inp, weight, bias, N, C, eps)
  FL_CATCH
}

int fl_layernorm_backward(fl_context *ctx, float *dinp, float *dweight, float *dbias,
                          const float *dout, const float *inp, const float *weight,
                          const float *mean, const float *rstd, int64_t N, int64_t C) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(C)
  FL_TRY
  FL_DISPATCH(layernorm_backward, dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C)
  FL_CATCH
}

int fl_residual_layernorm_forward(fl_context *ctx, float *residual_out, float *out, float *mean,
                                  float *rstd, const float *a, const float *b, const float *weight,
                                  const float *bias, int64_t N, int64_t C, float eps) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(C)
  FL_TRY
  FL_DISPATCH(residual_layernorm_forward, residual_out, out, mean, rstd, a, b, weight, bias, N, C, eps)
  FL_CATCH
}

int fl_attention_forward(fl_context *ctx, float *out, float *lse, const float *qkv,
                         const int32_t *key_mask, int64_t B, int64_t T, int64_t C, int64_t NH,
                         int causal) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(B) FL_CHECK_NONNEG(T) FL_CHECK_NONNEG(C)
  if (NH <= 0 || C % NH != 0)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_forward: C = " + std::to_string(C) +
                                             " is not a positive multiple of NH = " + std::to_string(NH));
  FL_TRY
  FL_DISPATCH(attention_forward, out, lse, qkv, key_mask, B, T, C, NH, causal)
  FL_CATCH
}

int fl_attention_backward(fl_context *ctx, float *dqkv, const float *dout, const float *qkv,
                          const float *out, const float *lse, const int32_t *key_mask, int64_t B,
                          int64_t T, int64_t C, int64_t NH, int causal) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(B) FL_CHECK_NONNEG(T) FL_CHECK_NONNEG(C)
  if (NH <= 0 || C % NH != 0)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_backward: C = " + std::to_string(C) +
                                             " is not a positive multiple of NH = " + std::to_string(NH));
  FL_TRY
  FL_DISPATCH(attention_backward, dqkv, dout, qkv, out, lse, key_mask, B, T, C, NH, causal)
  FL_CATCH
}

int fl_attention_forward_dropout(fl_context *ctx, float *out, float *lse, const float *qkv,
                                 const int32_t *key_mask, int64_t B, int64_t T, int64_t C,
                                 int64_t NH, int causal, float p, uint64_t seed) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(B) FL_CHECK_NONNEG(T) FL_CHECK_NONNEG(C)
  if (NH <= 0 || C % NH != 0)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_forward_dropout: C = " + std::to_string(C) +
                                             " is not a positive multiple of NH = " + std::to_string(NH));
  if (!(p >= 0.f && p < 1.f))
    return fail(FL_ERR_INVALID_ARGUMENT,
                "fl_attention_forward_dropout: p = " + std::to_string(p) + " is not in [0, 1)");
  FL_TRY
  FL_DISPATCH(attention_forward, out, lse, qkv, key_mask, B, T, C, NH, causal, p, seed)
  FL_CATCH
}

int fl_attention_backward_dropout(fl_context *ctx, float *dqkv, const float *dout,
                                  const float *qkv, const float *out, const float *lse,
                                  const int32_t *key_mask, int64_t B, int64_t T, int64_t C,
                                  int64_t NH, int causal, float p, uint64_t seed) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(B) FL_CHECK_NONNEG(T) FL_CHECK_NONNEG(C)
  if (NH <= 0 || C % NH != 0)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_backward_dropout: C = " + std::to_string(C) +
                                             " is not a positive multiple of NH = " + std::to_string(NH));
  if (!(p >= 0.f && p < 1.f))
    return fail(FL_ERR_INVALID_ARGUMENT,
                "fl_attention_backward_dropout: p = " + std::to_string(p) + " is not in [0, 1)");
  FL_TRY
  FL_DISPATCH(attention_backward, dqkv, dout, qkv, out, lse, key_mask, B, T, C, NH, causal, p, seed)
  FL_CATCH
}

int fl_attention_forward_cached(fl_context *ctx, float *out, const float *qkv_cache, int64_t B,
                                int64_t T, int64_t Tmax, int64_t Tq, int64_t C, int64_t NH) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(B) FL_CHECK_NONNEG(T) FL_CHECK_NONNEG(C) FL_CHECK_NONNEG(Tq)
  if (NH <= 0 || C % NH != 0)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_forward_cached: C = " + std::to_string(C) +
                                             " is not a positive multiple of NH = " + std::to_string(NH));
  if (T > Tmax || Tq > T)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_forward_cached: need Tq <= T <= Tmax, got Tq = " +
                                             std::to_string(Tq) + ", T = " + std::to_string(T) +
                                             ", Tmax = " + std::to_string(Tmax));
  FL_TRY
  FL_DISPATCH(attention_forward_cached, out, qkv_cache, B, T, Tmax, Tq, C, NH)
  FL_CATCH
}

int fl_attention_forward_varlen(fl_context *ctx, float *out, const float *qkv,
                                const int32_t *cu_seqlens, int64_t nseq, int64_t C, int64_t NH) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(nseq) FL_CHECK_NONNEG(C)
  if (NH <= 0 || C % NH != 0)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_forward_varlen: C = " + std::to_string(C) +
                                             " is not a positive multiple of NH = " + std::to_string(NH));
  if (cu_seqlens == nullptr || cu_seqlens[0] != 0)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_forward_varlen: cu_seqlens must start at 0");
  for (int64_t s = 0; s < nseq; s++)
    if (cu_seqlens[s + 1] < cu_seqlens[s])
      return fail(FL_ERR_INVALID_ARGUMENT, "fl_attention_forward_varlen: cu_seqlens decreases at " +
                                               std::to_string(s + 1));
  FL_TRY
  switch (ctx->backend) {  // no CUDA kernel: the caller pads and masks instead
    case FL_BACKEND_REFERENCE:
      fl::ref::attention_forward_varlen(out, qkv, cu_seqlens, nseq, C, NH);
      break;
    case FL_BACKEND_CPU:
      fl::cpu::attention_forward_varlen(ctx->cpu, out, qkv, cu_seqlens, nseq, C, NH);
      break;
    default:
      return fail(FL_ERR_UNSUPPORTED, "fl_attention_forward_varlen: backend " +
                                          std::to_string(ctx->backend) + " has no packed attention");
  }
  FL_CATCH
}

int fl_gelu_forward(fl_context *ctx, float *out, const float *inp, int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  FL_TRY
  FL_DISPATCH(gelu_forward, out, inp, n)
  FL_CATCH
}

int fl_gelu_backward(fl_context *ctx, float *dinp, const float *inp, const float *dout, int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  FL_TRY
  FL_DISPATCH(gelu_backward, dinp, inp, dout, n)
  FL_CATCH
}

int fl_gelu_erf_forward(fl_context *ctx, float *out, const float *inp, int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  FL_TRY
  FL_DISPATCH(gelu_erf_forward, out, inp, n)
  FL_CATCH
}

int fl_gelu_erf_backward(fl_context *ctx, float *dinp, const float *inp, const float *dout,
                         int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  FL_TRY
  FL_DISPATCH(gelu_erf_backward, dinp, inp, dout, n)
  FL_CATCH
}

int fl_add(fl_context *ctx, float *out, const float *a, const float *b, int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  FL_TRY
  FL_DISPATCH(add, out, a, b, n)
  FL_CATCH
}

int fl_scale(fl_context *ctx, float *x, float s, int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  FL_TRY
  FL_DISPATCH(scale, x, s, n)
  FL_CATCH
}

int fl_softmax_forward(fl_context *ctx, float *out, const float *inp, int64_t N, int64_t V) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(V)
  FL_TRY
  FL_DISPATCH(softmax_forward, out, inp, N, V)
  FL_CATCH
}

int fl_softmax_backward(fl_context *ctx, float *dinp, const float *out, const float *dout, int64_t N,
                        int64_t V) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(V)
  FL_TRY
  FL_DISPATCH(softmax_backward, dinp, out, dout, N, V)
  FL_CATCH
}

int fl_cross_entropy_forward(fl_context *ctx, float *mean_loss, int64_t *count, float *losses,
                             float *lse, const float *logits, const int32_t *targets, int64_t N,
                             int64_t V, int32_t ignore_index) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(V)
  if (mean_loss == nullptr || count == nullptr)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_cross_entropy_forward: null mean_loss or count");
  FL_TRY
  FL_DISPATCH(cross_entropy_forward, mean_loss, count, losses, lse, logits, targets, N, V, ignore_index)
  FL_CATCH
}

int fl_cross_entropy_backward(fl_context *ctx, float *dlogits, const float *logits, const float *lse,
                              const int32_t *targets, int64_t N, int64_t V, int32_t ignore_index,
                              float dloss, int64_t count) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(V)
  FL_TRY
  FL_DISPATCH(cross_entropy_backward, dlogits, logits, lse, targets, N, V, ignore_index, dloss, count)
  FL_CATCH
}

int fl_embedding_forward(fl_context *ctx, float *out, const int32_t *ids, const float *wte,
                         const float *wpe, int64_t B, int64_t T, int64_t C) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(B) FL_CHECK_NONNEG(T) FL_CHECK_NONNEG(C)
  FL_TRY
  FL_DISPATCH(embedding_forward, out, ids, wte, wpe, B, T, C)
  FL_CATCH
}

int fl_embedding_backward(fl_context *ctx, float *dwte, float *dwpe, const float *dout,
                          const int32_t *ids, int64_t B, int64_t T, int64_t C) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(B) FL_CHECK_NONNEG(T) FL_CHECK_NONNEG(C)
  FL_TRY
  FL_DISPATCH(embedding_backward, dwte, dwpe, dout, ids, B, T, C)
  FL_CATCH
}

int fl_grad_norm(fl_context *ctx, float *out, const float *grads, int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_grad_norm: null out");
  FL_TRY
  FL_DISPATCH(grad_norm, out, grads, n)
  FL_CATCH
}

int fl_adamw_step(fl_context *ctx, float *params, const float *grads, float *m, float *v, int64_t n,
                  const int64_t *seg_offsets, const uint8_t *seg_decay, int64_t nseg, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t t,
                  float grad_scale) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n) FL_CHECK_NONNEG(nseg)
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
  FL_TRY
  FL_DISPATCH(adamw_step, params, grads, m, v, n, seg_offsets, seg_decay, nseg, lr, beta1, beta2, eps,
              weight_decay, t, grad_scale)
  FL_CATCH
}

// ---- bf16 weights -----------------------------------------------------------------------------

int fl_f32_to_bf16(fl_context *ctx, uint16_t *dst, const float *src, int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  FL_TRY
  FL_DISPATCH(f32_to_bf16, dst, src, n)
  FL_CATCH
}

int fl_bf16_to_f32(fl_context *ctx, float *dst, const uint16_t *src, int64_t n) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(n)
  FL_TRY
  FL_DISPATCH(bf16_to_f32, dst, src, n)
  FL_CATCH
}

int fl_sgemm_bf16w(fl_context *ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                   float alpha, const float *A, int64_t lda, const uint16_t *B, int64_t ldb,
                   float beta, const float *bias, float *C, int64_t ldc) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(M) FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(K)
  FL_TRY
  FL_DISPATCH(sgemm_bf16w, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc)
  FL_CATCH
}

int fl_gemm_bf16(fl_context *ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
                 float beta, const float *bias, float *C, int64_t ldc) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(M) FL_CHECK_NONNEG(N) FL_CHECK_NONNEG(K)
  FL_TRY
  FL_DISPATCH(gemm_bf16, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc)
  FL_CATCH
}

// ---- int8 weights: host memory only (reference and CPU backends)
#define FL_DISPATCH_HOST(op, ...)                                              \
  switch (ctx->backend) {                                                      \
    case FL_BACKEND_REFERENCE:                                                 \
      fl::ref::op(__VA_ARGS__);                                                \
      break;                                                                   \
    case FL_BACKEND_CPU:                                                       \
      fl::cpu::op(ctx->cpu, __VA_ARGS__);                                      \
      break;                                                                   \
    default:                                                                   \
      return fail(FL_ERR_UNSUPPORTED, std::string(__func__) +                  \
                  ": int8 weights run on the CPU and reference backends only"); \
  }

#define FL_CHECK_Q8_SHAPE(K, N)                                                \
  FL_CHECK_NONNEG(K) FL_CHECK_NONNEG(N)                                        \
  if ((K) % 32 != 0)                                                           \
    return fail(FL_ERR_INVALID_ARGUMENT, std::string(__func__) + ": K = " +    \
                std::to_string(K) + " is not a multiple of the Q8_0 block of 32");

int fl_q8_0_quantize(fl_context *ctx, uint8_t *blocks, const float *W, int64_t K, int64_t N,
                     int w_is_kn) {
  FL_CHECK_CTX
  FL_CHECK_Q8_SHAPE(K, N)
  FL_TRY
  FL_DISPATCH_HOST(q8_0_quantize, blocks, W, K, N, w_is_kn)
  FL_CATCH
}

int fl_q8_0_packed_bytes(int64_t K, int64_t N, int64_t *out) {
  if (out == nullptr) return fail(FL_ERR_INVALID_ARGUMENT, "fl_q8_0_packed_bytes: null out");
  FL_CHECK_Q8_SHAPE(K, N)
  *out = (N + 15) / 16 * (K / 32) * 544;
  return FL_OK;
}

int fl_q8_0_repack(fl_context *ctx, uint8_t *packed, const uint8_t *blocks, int64_t K, int64_t N) {
  FL_CHECK_CTX
  FL_CHECK_Q8_SHAPE(K, N)
  FL_TRY
  FL_DISPATCH_HOST(q8_0_repack, packed, blocks, K, N)
  FL_CATCH
}

int fl_gemv_q8_0(fl_context *ctx, int64_t M, int64_t N, int64_t K, const float *X, int64_t ldx,
                 const uint8_t *packed, const float *bias, float *Y, int64_t ldy) {
  FL_CHECK_CTX
  FL_CHECK_NONNEG(M)
  FL_CHECK_Q8_SHAPE(K, N)
  if (ldx < K || ldy < N)
    return fail(FL_ERR_INVALID_ARGUMENT, "fl_gemv_q8_0: ldx < K or ldy < N");
  FL_TRY
  FL_DISPATCH_HOST(gemv_q8_0, M, N, K, X, ldx, packed, bias, Y, ldy)
  FL_CATCH
}

}  // extern "C"
