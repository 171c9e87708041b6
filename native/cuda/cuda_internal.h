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

// ---- ops: same arguments and semantics as fl::ref:: ------------------------------------------
void sgemm(CudaContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
           int64_t ldc);
void sgemm_bias(CudaContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                const float *A, int64_t lda, const float *B, int64_t ldb, const float *bias,
                float *C, int64_t ldc);
void bias_backward(CudaContext &ctx, float *dbias, const float *dout, int64_t M, int64_t N);
void layernorm_forward(CudaContext &ctx, float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int64_t N, int64_t C, float eps);
void layernorm_backward(CudaContext &ctx, float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        const float *mean, const float *rstd, int64_t N, int64_t C);
void residual_layernorm_forward(CudaContext &ctx, float *residual_out, float *out, float *mean,
                                float *rstd, const float *a, const float *b, const float *weight,
                                const float *bias, int64_t N, int64_t C, float eps);
void attention_forward(CudaContext &ctx, float *out, float *lse, const float *qkv,
                       const int32_t *key_mask, int64_t B, int64_t T, int64_t C, int64_t NH,
                       int causal, float dropout_p = 0.f, uint64_t dropout_seed = 0);
void attention_backward(CudaContext &ctx, float *dqkv, const float *dout, const float *qkv,
                        const float *out, const float *lse, const int32_t *key_mask, int64_t B,
                        int64_t T, int64_t C, int64_t NH, int causal, float dropout_p = 0.f,
                        uint64_t dropout_seed = 0);
void attention_forward_cached(CudaContext &ctx, float *out, const float *qkv_cache, int64_t B,
                              int64_t T, int64_t Tmax, int64_t Tq, int64_t C, int64_t NH);
void gelu_forward(CudaContext &ctx, float *out, const float *inp, int64_t n);
void gelu_backward(CudaContext &ctx, float *dinp, const float *inp, const float *dout, int64_t n);
void gelu_erf_forward(CudaContext &ctx, float *out, const float *inp, int64_t n);
void gelu_erf_backward(CudaContext &ctx, float *dinp, const float *inp, const float *dout, int64_t n);
void add(CudaContext &ctx, float *out, const float *a, const float *b, int64_t n);
void scale(CudaContext &ctx, float *x, float s, int64_t n);
void softmax_forward(CudaContext &ctx, float *out, const float *inp, int64_t N, int64_t V);
void softmax_backward(CudaContext &ctx, float *dinp, const float *out, const float *dout, int64_t N,
                      int64_t V);
void cross_entropy_forward(CudaContext &ctx, float *mean_loss, int64_t *count, float *losses,
                           float *lse, const float *logits, const int32_t *targets, int64_t N,
                           int64_t V, int32_t ignore_index);
void cross_entropy_backward(CudaContext &ctx, float *dlogits, const float *logits, const float *lse,
                            const int32_t *targets, int64_t N, int64_t V, int32_t ignore_index,
                            float dloss, int64_t count);
void embedding_forward(CudaContext &ctx, float *out, const int32_t *ids, const float *wte,
                       const float *wpe, int64_t B, int64_t T, int64_t C);
void embedding_backward(CudaContext &ctx, float *dwte, float *dwpe, const float *dout,
                        const int32_t *ids, int64_t B, int64_t T, int64_t C);
void grad_norm(CudaContext &ctx, float *out, const float *grads, int64_t n);
void adamw_step(CudaContext &ctx, float *params, const float *grads, float *m, float *v, int64_t n,
                const int64_t *seg_offsets, const uint8_t *seg_decay, int64_t nseg, float lr,
                float beta1, float beta2, float eps, float weight_decay, int64_t t,
                float grad_scale);

// bf16 weights (fuselm.h "bf16 weights")
void f32_to_bf16(CudaContext &ctx, uint16_t *dst, const float *src, int64_t n);
void bf16_to_f32(CudaContext &ctx, float *dst, const uint16_t *src, int64_t n);
void sgemm_bf16w(CudaContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float *A, int64_t lda, const uint16_t *B, int64_t ldb,
                 float beta, const float *bias, float *C, int64_t ldc);

// bf16 mixed-precision training (fuselm.h "bf16 mixed-precision training")
void gemm_bf16(CudaContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
               float alpha, const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
               float beta, const float *bias, float *C, int64_t ldc);

}  // namespace cuda
}  // namespace fl
