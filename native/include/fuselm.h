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

/* *out = 1 if this build's backend implements the op named op ("sgemm" or "fl_sgemm": any name of
 * fuselm_ops.def), else 0, as ggml's supports_op. Whether the backend can run here at all is
 * fl_backend_available. An unknown op name is FL_ERR_INVALID_ARGUMENT. */
int fl_backend_supports(int backend, const char *op, int *out);

/* ---- the ops ------------------------------------------------------------------------------ */
/* Every op is declared once, with its documentation, in fuselm_ops.def: each FL_OP / FL_API line
 * there becomes  int fl_<name>(fl_context *ctx, <params>);  here (sgemm, sgemm_bias,
 * bias_backward, layernorm_*, residual_layernorm_forward, attention_*, gelu_*, add, scale,
 * softmax_*, cross_entropy_*, embedding_*, grad_norm, adamw_step, f32_to_bf16, bf16_to_f32,
 * sgemm_bf16w, gemm_bf16, q8_0_quantize, q8_0_repack, gemv_q8_0). */
#define FL_UNPAREN_(...) __VA_ARGS__
#define FL_API(name, kernel, where, params, kernel_args, checks) \
  int fl_##name(fl_context *ctx, FL_UNPAREN_ params);
#include "fuselm_ops.def"
#undef FL_API

/* ---- activations fused into a GEMM epilogue (fl_gemm_bias_act in fuselm_ops.def) ---------- */
#define FL_ACT_NONE 0
#define FL_ACT_GELU_TANH 1 /* fl_gelu_forward's GELU (GPT-2) */
#define FL_ACT_GELU_ERF 2  /* fl_gelu_erf_forward's exact GELU (BERT) */

/* ---- int8 weights: sizes (the ops are in fuselm_ops.def) ---------------------------------- */
/* Q8_0 is llama.cpp's layout: a weight row of K values (one output's weights, K % 32 == 0) is K/32
 * blocks of 34 bytes, {uint16_t d (an IEEE fp16 scale); int8_t q[32]}, value = d * q. */
#define FL_Q8_0_BLOCK_BYTES 34
/* *out = bytes of the decode kernel's packed form of a K x N Q8_0 matrix (K % 32 == 0). */
int fl_q8_0_packed_bytes(int64_t K, int64_t N, int64_t *out);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* FUSELM_H */
