/*
 * fuselm.h: the whole native interface of fuselm.
 *
 * Plain C, plain types. Every function returns a status code (FL_OK on success); on failure
 * fl_last_error() returns a message for the calling thread. Sizes are int64_t. Tensors are
 * contiguous row-major float32 arrays unless stated. Pointers passed to an op must live on the
 * context's device (host memory for the reference and CPU backends).
 *
 * Native code trusts its inputs: shapes and index ranges are checked once, in Java (dev.fuselm.ops).
 * The API layer only rejects null contexts and impossible sizes (negative counts).
 *
 * Gradient convention: backward functions ADD into every gradient output (d* += ...), so residual
 * branches and tied weights need no extra pass. A gradient pointer may be NULL when that gradient
 * is not wanted (frozen parameters). The one exception is fl_cross_entropy_backward, which
 * OVERWRITES dlogits and may run in place (dlogits == logits), so the (N, V) logits buffer is reused.
 */
#ifndef FUSELM_H
#define FUSELM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* the library is built with hidden visibility; everything declared here is its exported API */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* status codes */
#define FL_OK 0
#define FL_ERR_INVALID_ARGUMENT 1
#define FL_ERR_OUT_OF_MEMORY 2
#define FL_ERR_UNSUPPORTED 3
#define FL_ERR_DEVICE 4
#define FL_ERR_INTERNAL 5

/* backends: REFERENCE is the plain-loop oracle every other backend is tested against */
#define FL_BACKEND_REFERENCE 0
#define FL_BACKEND_CPU 1
#define FL_BACKEND_CUDA 2

/* CPU instruction-set levels, chosen at run time (fl_cpu_best_isa), lowerable for tests */
#define FL_ISA_GENERIC 0
#define FL_ISA_AVX2 1
#define FL_ISA_AVX512 2
/* AVX-512 plus AVX512_BF16 (vdpbf16ps): fl_gemm_bf16 multiplies bf16 pairs natively */
#define FL_ISA_AVX512_BF16 3

typedef struct fl_context fl_context;

/* ---- library, context, memory ------------------------------------------------------------ */
const char *fl_last_error(void);
const char *fl_version(void);
/* *out = 1 if the backend can run here (CUDA: compiled in and a device present), else 0 */
int fl_backend_available(int backend, int *out);
/* *out = the best FL_ISA_* this CPU supports and this library was built with */
int fl_cpu_best_isa(int *out);

int fl_context_create(int backend, int device, fl_context **out);
int fl_context_destroy(fl_context *ctx);
/* threads <= 0 means the number of available cores */
int fl_context_set_threads(fl_context *ctx, int threads);
int fl_context_threads(const fl_context *ctx, int *out);
/* isa above fl_cpu_best_isa() is an error */
int fl_context_set_isa(fl_context *ctx, int isa);
int fl_context_isa(const fl_context *ctx, int *out);
/* waits for all work queued on the context (no-op on the CPU) */
int fl_context_synchronize(fl_context *ctx);

/* 64-byte aligned allocation on the context's device; memory is zero-filled */
int fl_malloc(fl_context *ctx, int64_t bytes, void **out);
int fl_free(fl_context *ctx, void *ptr);
int fl_memset_zero(fl_context *ctx, void *ptr, int64_t bytes);
/* kind: 0 = host->device, 1 = device->host, 2 = device->device (all plain memcpy on the CPU) */
int fl_memcpy(fl_context *ctx, void *dst, const void *src, int64_t bytes, int kind);

/* ---- GEMM --------------------------------------------------------------------------------- */
/* C(M,N) = alpha * op(A) * op(B) + beta * C, row-major. op(A) is (M,K): A is (M,K) with leading
 * dimension lda, or (K,M) when trans_a. op(B) is (K,N): B is (K,N), or (N,K) when trans_b.
 * beta == 0 means C is not read (may hold garbage/NaN); as in BLAS, alpha == 0 or K == 0 means A and
 * B are not read. */
int fl_sgemm(fl_context *ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
             float beta, float *C, int64_t ldc);
/* C(M,N) = op(A) * op(B) + bias (bias has N entries, broadcast over rows; NULL = no bias).
 * The linear layer's forward: out = inp * W^T + b is trans_b = 1 with W (N,K). */
int fl_sgemm_bias(fl_context *ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                  const float *A, int64_t lda, const float *B, int64_t ldb,
                  const float *bias, float *C, int64_t ldc);
/* dbias(N) += sum over rows of dout(M,N): the linear layer's bias gradient */
int fl_bias_backward(fl_context *ctx, float *dbias, const float *dout, int64_t M, int64_t N);

/* ---- layer norm --------------------------------------------------------------------------- */
/* out = (inp - mean) * rstd * weight + bias over the last dimension C, for N rows.
 * mean and rstd (N each) are saved for backward; either may be NULL in inference. */
int fl_layernorm_forward(fl_context *ctx, float *out, float *mean, float *rstd,
                         const float *inp, const float *weight, const float *bias,
                         int64_t N, int64_t C, float eps);
int fl_layernorm_backward(fl_context *ctx, float *dinp, float *dweight, float *dbias,
                          const float *dout, const float *inp, const float *weight,
                          const float *mean, const float *rstd, int64_t N, int64_t C);
/* Pre-LN block junction: residual_out = a + b, then out = layernorm(residual_out).
 * Backward is fl_layernorm_backward on residual_out followed by the residual gradient. */
int fl_residual_layernorm_forward(fl_context *ctx, float *residual_out, float *out,
                                  float *mean, float *rstd, const float *a, const float *b,
                                  const float *weight, const float *bias,
                                  int64_t N, int64_t C, float eps);

/* ---- attention ---------------------------------------------------------------------------- */
/* Multi-head scaled dot-product attention on packed qkv (B, T, 3C): q, k, v are the three C-wide
 * slices of each row, head h owns columns [h*hs, (h+1)*hs) of each slice, hs = C / NH.
 * out (B, T, C); lse (B, NH, T) is the log-sum-exp of each softmax row, saved for backward.
 * causal != 0: position t attends to 0..t. key_mask (B, T) int32, may be NULL: 0 marks a padding
 * key that no query attends to (BERT). A row with no key to attend to outputs zeros, its lse is
 * -inf and it gets zero gradient (never NaN). lse may be NULL in inference.
 * Streaming (online) softmax: the (T, T) score matrix of all heads is never stored. */
int fl_attention_forward(fl_context *ctx, float *out, float *lse, const float *qkv,
                         const int32_t *key_mask, int64_t B, int64_t T, int64_t C, int64_t NH,
                         int causal);
/* dqkv (B, T, 3C) += gradient, recomputing probabilities from qkv and lse (dqkv NULL: no-op). */
int fl_attention_backward(fl_context *ctx, float *dqkv, const float *dout, const float *qkv,
                          const float *out, const float *lse, const int32_t *key_mask,
                          int64_t B, int64_t T, int64_t C, int64_t NH, int causal);

/* The same two with dropout on the attention probabilities (training): after the softmax, each
 * probability of query i against key j in head h of batch b is kept with probability 1 - p and then
 * scaled by 1 / (1 - p), else zeroed. Which ones are dropped is a pure function of
 * (seed, b, h, i, j) (a counter-based hash, identical on every backend), so the backward, given the
 * forward's p and seed, recomputes the same mask. lse is that of the undropped softmax.
 * 0 <= p < 1; p = 0 gives exactly fl_attention_forward / fl_attention_backward. */
int fl_attention_forward_dropout(fl_context *ctx, float *out, float *lse, const float *qkv,
                                 const int32_t *key_mask, int64_t B, int64_t T, int64_t C,
                                 int64_t NH, int causal, float p, uint64_t seed);
int fl_attention_backward_dropout(fl_context *ctx, float *dqkv, const float *dout,
                                  const float *qkv, const float *out, const float *lse,
                                  const int32_t *key_mask, int64_t B, int64_t T, int64_t C,
                                  int64_t NH, int causal, float p, uint64_t seed);

/* Attention for generation with a KV cache. qkv_cache (B, Tmax, 3C) holds the packed q, k, v rows of
 * positions 0..T-1 (T <= Tmax, rows beyond T are not read). out (B, Tq, C) receives causal attention
 * for the last Tq positions T-Tq..T-1, each attending to keys 0..its own position. Forward only. */
int fl_attention_forward_cached(fl_context *ctx, float *out, const float *qkv_cache, int64_t B,
                                int64_t T, int64_t Tmax, int64_t Tq, int64_t C, int64_t NH);

/* Bidirectional attention over packed variable-length sequences, forward only (BERT inference
 * without padding). qkv (N, 3C) holds nseq sequences back to back: sequence s is rows
 * cu_seqlens[s] .. cu_seqlens[s+1]-1 (cu_seqlens int32, nseq + 1 entries, cu_seqlens[0] = 0,
 * non-decreasing, N = cu_seqlens[nseq]); each query attends to every key of its own sequence.
 * out (N, C). On the CPU backend a sequence's rows are bitwise those fl_attention_forward gives it
 * padded with masked keys to any length. Not available on CUDA (FL_ERR_UNSUPPORTED). */
int fl_attention_forward_varlen(fl_context *ctx, float *out, const float *qkv,
                                const int32_t *cu_seqlens, int64_t nseq, int64_t C, int64_t NH);

/* ---- pointwise ---------------------------------------------------------------------------- */
/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
int fl_gelu_forward(fl_context *ctx, float *out, const float *inp, int64_t n);
int fl_gelu_backward(fl_context *ctx, float *dinp, const float *inp, const float *dout, int64_t n);
/* GELU, exact (erf) form as in BERT: x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))).
 * Backward: dinp += dout * (Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi)). out may alias inp. */
int fl_gelu_erf_forward(fl_context *ctx, float *out, const float *inp, int64_t n);
int fl_gelu_erf_backward(fl_context *ctx, float *dinp, const float *inp, const float *dout,
                         int64_t n);
/* out = a + b (out may alias a or b) */
int fl_add(fl_context *ctx, float *out, const float *a, const float *b, int64_t n);
/* x *= s */
int fl_scale(fl_context *ctx, float *x, float s, int64_t n);

/* ---- softmax and cross-entropy ------------------------------------------------------------ */
/* row-wise softmax of (N, V); out may alias inp */
int fl_softmax_forward(fl_context *ctx, float *out, const float *inp, int64_t N, int64_t V);
/* dinp += out * (dout - sum(dout * out)) row-wise */
int fl_softmax_backward(fl_context *ctx, float *dinp, const float *out, const float *dout,
                        int64_t N, int64_t V);
/* Fused softmax + cross-entropy over logits (N, V) and int32 targets (N). Rows whose target equals
 * ignore_index contribute nothing. losses (N, may be NULL) gets each row's loss (0 when ignored),
 * lse (N) the row's log-sum-exp for backward, *mean_loss the mean over non-ignored rows (0 if none),
 * *count the number of non-ignored rows. The probability matrix is never written. */
int fl_cross_entropy_forward(fl_context *ctx, float *mean_loss, int64_t *count, float *losses,
                             float *lse, const float *logits, const int32_t *targets,
                             int64_t N, int64_t V, int32_t ignore_index);
/* dlogits = dloss * (softmax(logits) - onehot(target)) / count for non-ignored rows, 0 for ignored
 * rows. OVERWRITES dlogits; dlogits == logits is allowed. count <= 0 writes zeros. */
int fl_cross_entropy_backward(fl_context *ctx, float *dlogits, const float *logits,
                              const float *lse, const int32_t *targets, int64_t N, int64_t V,
                              int32_t ignore_index, float dloss, int64_t count);

/* ---- embeddings --------------------------------------------------------------------------- */
/* out(B, T, C) = wte[ids[b, t]] + wpe[t] (wpe may be NULL). ids are int32 in [0, V). */
int fl_embedding_forward(fl_context *ctx, float *out, const int32_t *ids, const float *wte,
                         const float *wpe, int64_t B, int64_t T, int64_t C);
/* dwte[ids[b,t]] += dout[b,t]; dwpe[t] += sum over b of dout[b,t] (either may be NULL) */
int fl_embedding_backward(fl_context *ctx, float *dwte, float *dwpe, const float *dout,
                          const int32_t *ids, int64_t B, int64_t T, int64_t C);

/* ---- optimizer ---------------------------------------------------------------------------- */
/* *out = sqrt(sum g^2) over n gradients, accumulated in double */
int fl_grad_norm(fl_context *ctx, float *out, const float *grads, int64_t n);
/* One fused AdamW pass over a contiguous parameter slab. Gradients are multiplied by grad_scale
 * first (gradient clipping: grad_scale = min(1, max_norm / norm)). Bias-corrected moments with
 * step t >= 1. Decoupled weight decay (param -= lr * weight_decay * param) applies to segment s,
 * covering elements [seg_offsets[s], seg_offsets[s+1]), when seg_decay[s] != 0; seg_offsets has
 * nseg + 1 entries, starts at 0 and ends at n. seg_offsets and seg_decay are host memory on every
 * backend. */
int fl_adamw_step(fl_context *ctx, float *params, const float *grads, float *m, float *v,
                  int64_t n, const int64_t *seg_offsets, const uint8_t *seg_decay, int64_t nseg,
                  float lr, float beta1, float beta2, float eps, float weight_decay,
                  int64_t t, float grad_scale);

/* ---- bf16 weights (generation) ---------------------------------------------------------- */
/* A bf16 value is a uint16_t holding the high 16 bits of a float32 (sign, 8 exponent bits, 7
 * mantissa bits): the float32 range at ~3 significant digits, half the bytes. */
/* dst(n) = src rounded to bf16, to nearest, ties to even (finite values beyond the largest bf16
 * become infinities; NaN stays NaN). */
int fl_f32_to_bf16(fl_context *ctx, uint16_t *dst, const float *src, int64_t n);
/* dst(n) = src widened to float32 (exact). */
int fl_bf16_to_f32(fl_context *ctx, float *dst, const uint16_t *src, int64_t n);
/* C(M,N) = alpha * op(A) * op(B) + beta * C (+ bias) as fl_sgemm, with B in bf16 (leading
 * dimension ldb in elements), A, C and the optional bias (N, NULL = none) float32. Each element of B
 * is widened exactly to float32 and the products are summed in float32, so the result is fl_sgemm's
 * on the widened B up to the order of the sums. beta == 0 means C is not read. */
int fl_sgemm_bf16w(fl_context *ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                   float alpha, const float *A, int64_t lda, const uint16_t *B, int64_t ldb,
                   float beta, const float *bias, float *C, int64_t ldc);

/* ---- bf16 mixed-precision training ------------------------------------------------------ */
/* C(M,N) = alpha * op(A) * op(B) + beta * C (+ bias) as fl_sgemm, with A and B both in bf16
 * (leading dimensions in elements), C and the optional bias (N, NULL = none) float32. Products of
 * two bf16 values are exact in float32 and are summed in float32 (fp32 accumulation), so the result
 * is fl_sgemm's on the widened A and B up to the order of the sums (and, on CPUs that run it with
 * AVX512_BF16's vdpbf16ps, with bf16 subnormal inputs read as zero). beta == 0 means C is not read;
 * alpha == 0 or K == 0 means A and B are not read. The GEMMs of `--precision bf16` training. */
int fl_gemm_bf16(fl_context *ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
                 float beta, const float *bias, float *C, int64_t ldc);

/* ---- linear-layer inference forward: bias and activation fused into the GEMM epilogue ------ */
#define FL_ACT_NONE 0
#define FL_ACT_GELU_TANH 1 /* fl_gelu_forward's GELU (GPT-2) */
#define FL_ACT_GELU_ERF 2  /* fl_gelu_erf_forward's exact GELU (BERT) */
/* C(M,N) = act(A * op(B) + bias): A (M,K) float32 (leading dimension lda), op(B) (K,N) is B (K,N)
 * or, when trans_b, B (N,K); bias (N) or NULL. b_bf16 == 0: B is float32 and C is bit for bit
 * fl_sgemm_bias followed by the activation's pointwise op. b_bf16 != 0: B is bf16 (uint16_t) and A
 * is rounded to bf16 (to nearest, ties to even) first, then as fl_gemm_bf16 (float32 sums). On the
 * CPU backend the bias and activation are applied to each output tile as its last K block leaves
 * the micro-kernel, while it is in cache. Host memory (CUDA: FL_ERR_UNSUPPORTED). */
int fl_gemm_bias_act(fl_context *ctx, int trans_b, int64_t M, int64_t N, int64_t K,
                     const float *A, int64_t lda, const void *B, int b_bf16, int64_t ldb,
                     const float *bias, int act, float *C, int64_t ldc);

/* ---- int8 weights (generation): Q8_0 blocks, repacked for the decode kernel ---------------- */
/* Q8_0 is llama.cpp's layout: a weight row of K values (one output's weights, K % 32 == 0) is K/32
 * blocks of 34 bytes, {uint16_t d (an IEEE fp16 scale); int8_t q[32]}, value = d * q. */
#define FL_Q8_0_BLOCK_BYTES 34
/* blocks (N rows of K/32 blocks) = W quantized per output column: d = max|w| / 127 rounded to fp16,
 * q = round(w / d) (llama.cpp's quantize_row_q8_0). W is (K, N) row-major when w_is_kn (a Conv1D
 * linear weight), else (N, K) row-major (an nn.Linear or LM head weight). Host memory on every
 * backend (CUDA: FL_ERR_UNSUPPORTED). */
int fl_q8_0_quantize(fl_context *ctx, uint8_t *blocks, const float *W, int64_t K, int64_t N,
                     int w_is_kn);
/* *out = bytes of the decode kernel's packed form of a K x N Q8_0 matrix (K % 32 == 0). */
int fl_q8_0_packed_bytes(int64_t K, int64_t N, int64_t *out);
/* packed = the Q8_0 rows in blocks (N rows of K/32 blocks) repacked for fl_gemv_q8_0: columns in
 * groups of 16 (the last padded with zero scales), per group and 32-block the 16 fp16 scales then
 * the 16 x 32 values as 8 runs of 4 bytes per column, stored offset by 128 (q ^ 0x80). Exact. */
int fl_q8_0_repack(fl_context *ctx, uint8_t *packed, const uint8_t *blocks, int64_t K, int64_t N);
/* Y(M,N) = X(M,K) * W + bias (N, NULL = none) with W given as fl_q8_0_repack's packed form: each
 * row of X is quantized per block of 32 to int8 with a float32 scale (dx = max|x| / 127, q =
 * round(x / dx)), each block's integer dot product is exact, and Y = sum over blocks of
 * float(dot) * (d * dx) in float32 (fused multiply-adds in block order), then + bias. The same bits
 * on every backend, ISA level and thread count. ldx, ldy in elements. */
int fl_gemv_q8_0(fl_context *ctx, int64_t M, int64_t N, int64_t K, const float *X, int64_t ldx,
                 const uint8_t *packed, const float *bias, float *Y, int64_t ldy);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* FUSELM_H */
