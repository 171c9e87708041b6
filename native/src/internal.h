// Internal declarations shared by the API layer and the backends. Nothing here crosses the C API.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace fl {

class ThreadPool;

// What a CPU kernel needs from its context: how many threads, which instruction set.
struct CpuContext {
  int threads;
  int isa;  // FL_ISA_*
  ThreadPool *pool;
};

// Runs fn(begin, end) over [0, n) split into chunks of at least `grain` items on the context's
// threads (the calling thread takes part). Returns when every chunk is done.
void parallel_for(const CpuContext &ctx, int64_t n, int64_t grain,
                  const std::function<void(int64_t, int64_t)> &fn);

// Thrown by kernels for failures a caller can see (bad argument, allocation); the API layer turns
// it into a status code and fl_last_error().
struct Error : std::runtime_error {
  int status;
  Error(int status, const std::string &msg) : std::runtime_error(msg), status(status) {}
};

// ---- reference backend: plain loops, the oracle for every other backend ------------------
namespace ref {
void sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
           int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void sgemm_bias(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                int64_t lda, const float *B, int64_t ldb, const float *bias, float *C, int64_t ldc);
void bias_backward(float *dbias, const float *dout, int64_t M, int64_t N);
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int64_t N, int64_t C, float eps);
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int64_t N, int64_t C);
void residual_layernorm_forward(float *residual_out, float *out, float *mean, float *rstd,
                                const float *a, const float *b, const float *weight,
                                const float *bias, int64_t N, int64_t C, float eps);
// dropout_p > 0: attention-probability dropout with the mask of attention_dropout.h
void attention_forward(float *out, float *lse, const float *qkv, const int32_t *key_mask, int64_t B,
                       int64_t T, int64_t C, int64_t NH, int causal, float dropout_p = 0.f,
                       uint64_t dropout_seed = 0);
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, const int32_t *key_mask, int64_t B, int64_t T, int64_t C,
                        int64_t NH, int causal, float dropout_p = 0.f, uint64_t dropout_seed = 0);
void attention_forward_cached(float *out, const float *qkv_cache, int64_t B, int64_t T, int64_t Tmax,
                              int64_t Tq, int64_t C, int64_t NH);
void attention_forward_varlen(float *out, const float *qkv, const int32_t *cu_seqlens, int64_t nseq,
                              int64_t C, int64_t NH);
void gelu_forward(float *out, const float *inp, int64_t n);
void gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n);
void gelu_erf_forward(float *out, const float *inp, int64_t n);
void gelu_erf_backward(float *dinp, const float *inp, const float *dout, int64_t n);
void add(float *out, const float *a, const float *b, int64_t n);
void scale(float *x, float s, int64_t n);
void softmax_forward(float *out, const float *inp, int64_t N, int64_t V);
void softmax_backward(float *dinp, const float *out, const float *dout, int64_t N, int64_t V);
void cross_entropy_forward(float *mean_loss, int64_t *count, float *losses, float *lse,
                           const float *logits, const int32_t *targets, int64_t N, int64_t V,
                           int32_t ignore_index);
void cross_entropy_backward(float *dlogits, const float *logits, const float *lse,
                            const int32_t *targets, int64_t N, int64_t V, int32_t ignore_index,
                            float dloss, int64_t count);
void embedding_forward(float *out, const int32_t *ids, const float *wte, const float *wpe, int64_t B,
                       int64_t T, int64_t C);
void embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, int64_t B,
                        int64_t T, int64_t C);
void grad_norm(float *out, const float *grads, int64_t n);
void adamw_step(float *params, const float *grads, float *m, float *v, int64_t n,
                const int64_t *seg_offsets, const uint8_t *seg_decay, int64_t nseg, float lr,
                float beta1, float beta2, float eps, float weight_decay, int64_t t,
                float grad_scale);
// bf16 weights (fuselm.h "bf16 weights")
void f32_to_bf16(uint16_t *dst, const float *src, int64_t n);
void bf16_to_f32(float *dst, const uint16_t *src, int64_t n);
void sgemm_bf16w(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
                 const float *bias, float *C, int64_t ldc);
// bf16 mixed-precision training (fuselm.h "bf16 mixed-precision training")
void gemm_bf16(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
               const float *bias, float *C, int64_t ldc);
void gemm_bias_act(int trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                   const void *B, bool b_bf16, int64_t ldb, const float *bias, int act, float *C,
                   int64_t ldc);  // fuselm.h "bias and activation fused"
// int8 weights (fuselm.h "int8 weights"; layouts in cpu/q8.h)
void q8_0_quantize(uint8_t *blocks, const float *W, int64_t K, int64_t N, int w_is_kn);
void q8_0_repack(uint8_t *packed, const uint8_t *blocks, int64_t K, int64_t N);
void gemv_q8_0(int64_t M, int64_t N, int64_t K, const float *X, int64_t ldx, const uint8_t *packed,
               const float *bias, float *Y, int64_t ldy);
}  // namespace ref

// ---- CPU backend: vectorised (run-time ISA dispatch inside each op) and multi-threaded -----
namespace cpu {
void sgemm(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
           float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
           float *C, int64_t ldc);
void sgemm_bias(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                const float *A, int64_t lda, const float *B, int64_t ldb, const float *bias,
                float *C, int64_t ldc);
void bias_backward(const CpuContext &ctx, float *dbias, const float *dout, int64_t M, int64_t N);
void layernorm_forward(const CpuContext &ctx, float *out, float *mean, float *rstd,
                       const float *inp, const float *weight, const float *bias, int64_t N,
                       int64_t C, float eps);
void layernorm_backward(const CpuContext &ctx, float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        const float *mean, const float *rstd, int64_t N, int64_t C);
void residual_layernorm_forward(const CpuContext &ctx, float *residual_out, float *out,
                                float *mean, float *rstd, const float *a, const float *b,
                                const float *weight, const float *bias, int64_t N, int64_t C,
                                float eps);
void attention_forward(const CpuContext &ctx, float *out, float *lse, const float *qkv,
                       const int32_t *key_mask, int64_t B, int64_t T, int64_t C, int64_t NH,
                       int causal, float dropout_p = 0.f, uint64_t dropout_seed = 0);
void attention_backward(const CpuContext &ctx, float *dqkv, const float *dout, const float *qkv,
                        const float *out, const float *lse, const int32_t *key_mask, int64_t B,
                        int64_t T, int64_t C, int64_t NH, int causal, float dropout_p = 0.f,
                        uint64_t dropout_seed = 0);
void attention_forward_cached(const CpuContext &ctx, float *out, const float *qkv_cache, int64_t B,
                              int64_t T, int64_t Tmax, int64_t Tq, int64_t C, int64_t NH);
void attention_forward_varlen(const CpuContext &ctx, float *out, const float *qkv,
                              const int32_t *cu_seqlens, int64_t nseq, int64_t C, int64_t NH);
void gelu_forward(const CpuContext &ctx, float *out, const float *inp, int64_t n);
void gelu_backward(const CpuContext &ctx, float *dinp, const float *inp, const float *dout,
                   int64_t n);
void gelu_erf_forward(const CpuContext &ctx, float *out, const float *inp, int64_t n);
void gelu_erf_backward(const CpuContext &ctx, float *dinp, const float *inp, const float *dout,
                       int64_t n);
void add(const CpuContext &ctx, float *out, const float *a, const float *b, int64_t n);
void scale(const CpuContext &ctx, float *x, float s, int64_t n);
void softmax_forward(const CpuContext &ctx, float *out, const float *inp, int64_t N, int64_t V);
void softmax_backward(const CpuContext &ctx, float *dinp, const float *out, const float *dout,
                      int64_t N, int64_t V);
void cross_entropy_forward(const CpuContext &ctx, float *mean_loss, int64_t *count, float *losses,
                           float *lse, const float *logits, const int32_t *targets, int64_t N,
                           int64_t V, int32_t ignore_index);
void cross_entropy_backward(const CpuContext &ctx, float *dlogits, const float *logits,
                            const float *lse, const int32_t *targets, int64_t N, int64_t V,
                            int32_t ignore_index, float dloss, int64_t count);
void embedding_forward(const CpuContext &ctx, float *out, const int32_t *ids, const float *wte,
                       const float *wpe, int64_t B, int64_t T, int64_t C);
void embedding_backward(const CpuContext &ctx, float *dwte, float *dwpe, const float *dout,
                        const int32_t *ids, int64_t B, int64_t T, int64_t C);
void grad_norm(const CpuContext &ctx, float *out, const float *grads, int64_t n);
void adamw_step(const CpuContext &ctx, float *params, const float *grads, float *m, float *v,
                int64_t n, const int64_t *seg_offsets, const uint8_t *seg_decay, int64_t nseg,
                float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                float grad_scale);
// bf16 weights (fuselm.h "bf16 weights")
void f32_to_bf16(const CpuContext &ctx, uint16_t *dst, const float *src, int64_t n);
void bf16_to_f32(const CpuContext &ctx, float *dst, const uint16_t *src, int64_t n);
void sgemm_bf16w(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float *A, int64_t lda, const uint16_t *B, int64_t ldb,
                 float beta, const float *bias, float *C, int64_t ldc);
// bf16 mixed-precision training (fuselm.h "bf16 mixed-precision training")
void gemm_bf16(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
               float alpha, const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
               float beta, const float *bias, float *C, int64_t ldc);
void gemm_bias_act(const CpuContext &ctx, int trans_b, int64_t M, int64_t N, int64_t K,
                   const float *A, int64_t lda, const void *B, bool b_bf16, int64_t ldb,
                   const float *bias, int act, float *C, int64_t ldc);
// int8 weights (fuselm.h "int8 weights"; layouts in cpu/q8.h)
void q8_0_quantize(const CpuContext &ctx, uint8_t *blocks, const float *W, int64_t K, int64_t N,
                   int w_is_kn);
void q8_0_repack(const CpuContext &ctx, uint8_t *packed, const uint8_t *blocks, int64_t K,
                 int64_t N);
void gemv_q8_0(const CpuContext &ctx, int64_t M, int64_t N, int64_t K, const float *X,
               int64_t ldx, const uint8_t *packed, const float *bias, float *Y, int64_t ldy);
}  // namespace cpu

// Which ISA levels this build and this CPU support.
int cpu_best_isa();

}  // namespace fl
