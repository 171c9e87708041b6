// The bf16 GEMM entry points of the CPU backend, over gemm.cpp's drivers (gemm_driver.h):
// fl_sgemm_bf16w (bf16 weights, float32 activations: decoding and prefill), fl_gemm_bf16 (bf16 A
// and B: mixed-precision training), fl_gemm_mixed (each operand float32 or bf16, float32 ones
// rounded to bf16 as they are packed) and fl_gemm_bias_act (the linear layer's inference forward with
// bias and activation fused into the epilogue). How the packed and small-M paths treat bf16
// operands: gemm.cpp's header. Compiled for baseline x86-64 (or any architecture).
#include <algorithm>
#include <cstdint>

#include "bf16.h"
#include "fuselm.h"
#include "gemm_driver.h"
#include "gemm_kernels.h"
#include "internal.h"
#include "pointwise_kernels.h"

namespace fl {
namespace cpu {
namespace {

using gemm_internal::GemmKernel;

using gemm_internal::ceil_div;
using gemm_internal::round_up;

// gemm.cpp's drivers under the names they have there.
const GemmKernel &select_kernel(int isa) { return gemm_internal::fp32_kernel(isa); }
const GemmKernel &select_bf16_kernel(int isa) { return gemm_internal::bf16_kernel(isa); }
int64_t small_m_limit() { return gemm_internal::small_m_rows(); }
bool without_product(const CpuContext &ctx, int64_t M, int64_t N, int64_t K, float alpha,
                     float beta, const float *bias, float *C, int64_t ldc) {
  return gemm_internal::no_product(ctx, M, N, K, alpha, beta, bias, C, ldc);
}
void gemm_driver(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                 const float *bias, float *C, int64_t ldc) {
  gemm_internal::gemm(ctx, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
}
template <typename BT>
void small_m_driver(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b,
                    int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const BT *B, int64_t ldb, float beta, const float *bias, float *C,
                    int64_t ldc) {
  gemm_internal::small_m(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C,
                       ldc);
}
template <typename AT, typename BT>
void packed_driver(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b,
                   int64_t M, int64_t N, int64_t K, float alpha, const AT *A, int64_t lda,
                   const BT *B, int64_t ldb, float beta, const float *bias, float *C,
                   int64_t ldc, int act = FL_ACT_NONE, const PointwiseKernels *pw = nullptr) {
  gemm_internal::packed(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C,
                      ldc, act, pw);
}

// B widened to float32 for the packed path of fl_sgemm_bf16w (per calling thread, like tl_scratch).
thread_local Scratch tl_widened;

}  // namespace

// C = alpha * op(A) op(B) + beta * C (+ bias) with B in bf16. M <= kSmallM (generation) streams the
// bf16 weights through the small-M kernels, widening each vector as it is loaded: half the bytes of
// float32 weights for the same arithmetic. Larger M (a prompt's prefill) runs the packed float32
// GEMM on column blocks of op(B) widened into scratch (about 4 MiB at a time): the widening is one
// pass over B, small next to the M x N x K multiply.
void sgemm_bf16w(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float *A, int64_t lda, const uint16_t *B, int64_t ldb,
                 float beta, const float *bias, float *C, int64_t ldc) {
  if (without_product(ctx, M, N, K, alpha, beta, bias, C, ldc)) return;
  const GemmKernel &kr = select_kernel(ctx.isa);
  if (M <= small_m_limit()) {
    small_m_driver(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
    return;
  }
  const int64_t nb = std::min(N, std::max<int64_t>(256, round_up(ceil_div(int64_t(1) << 20, K), 64)));
  float *w = tl_widened.get(size_t(nb * K));
  for (int64_t j0 = 0; j0 < N; j0 += nb) {
    const int64_t nc = std::min(nb, N - j0);
    // op(B)(:, j0 : j0 + nc) in B's own orientation: (nc, K) rows when trans_b, else (K, nc)
    if (trans_b) {
      parallel_for(ctx, nc, std::max<int64_t>(1, 65536 / K), [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; j++)
          for (int64_t p = 0; p < K; p++) w[j * K + p] = bf16_to_f32(B[(j0 + j) * ldb + p]);
      });
    } else {
      parallel_for(ctx, K, std::max<int64_t>(1, 65536 / nc), [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; p++)
          for (int64_t j = 0; j < nc; j++) w[p * nc + j] = bf16_to_f32(B[p * ldb + j0 + j]);
      });
    }
    gemm_driver(ctx, trans_a, trans_b, M, nc, K, alpha, A, lda, w, trans_b ? K : nc, beta,
                bias ? bias + j0 : nullptr, C + j0, ldc);
  }
}

// C = alpha * op(A) op(B) + beta * C (+ bias) with A and B in bf16, fp32 accumulation. The packed
// path widens both operands as it packs them (gemm_x86_impl.h's packers read bf16), then runs the
// level's fp32 micro-kernels: no copy of A or B beyond the packed blocks fl_sgemm uses, and the
// result is fl_sgemm's on the widened operands, bit for bit (the same packed panels, blocking and
// kernels). With AVX512_BF16 the operands stay bf16 in k-pair panels for vdpbf16ps instead
// (gemm_avx512bf16.cpp). Small M (<= kSmallM) widens op(A), at most 8 rows, into this thread's
// scratch and streams the bf16 B through the small-M kernels, as fl_sgemm_bf16w does.
void gemm_bf16(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
               float alpha, const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
               float beta, const float *bias, float *C, int64_t ldc) {
  if (without_product(ctx, M, N, K, alpha, beta, bias, C, ldc)) return;
  if (M <= small_m_limit()) {
    float *x = gemm_internal::scratch(size_t(M * K));
    for (int64_t i = 0; i < M; i++)
      for (int64_t p = 0; p < K; p++)
        x[i * K + p] = bf16_to_f32(trans_a ? A[p * lda + i] : A[i * lda + p]);
    // small_m_driver with trans_a == 0 does not use tl_scratch, which now holds x
    small_m_driver(ctx, select_kernel(ctx.isa), 0, trans_b, M, N, K, alpha, x, K, B, ldb, beta,
                   bias, C, ldc);
    return;
  }
  packed_driver(ctx, select_bf16_kernel(ctx.isa), trans_a, trans_b, M, N, K, alpha, A, lda, B,
                ldb, beta, bias, C, ldc);
}

// ---- fl_gemm_mixed: float32 operands rounded to bf16 by the packers --------------------------

namespace {
// fl_gemm_mixed's rounded copies where it cannot round in the packers (per calling thread).
thread_local Scratch tl_mixed_a, tl_mixed_b;

// X (rows x cols, row stride ld) rounded to bf16 into a dense copy in buf (row stride cols).
const uint16_t *rounded_copy(const CpuContext &ctx, Scratch &buf, const float *X, int64_t rows,
                             int64_t cols, int64_t ld) {
  uint16_t *d = reinterpret_cast<uint16_t *>(buf.get(size_t((rows * cols + 1) / 2)));
  parallel_for(ctx, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)),
               [&](int64_t i0, int64_t i1) {
                 for (int64_t i = i0; i < i1; i++)
                   for (int64_t p = 0; p < cols; p++) d[i * cols + p] = f32_to_bf16_rne(X[i * ld + p]);
               });
  return d;
}

template <typename AT>
void packed_mixed_b(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b,
                    int64_t M, int64_t N, int64_t K, float alpha, const AT *A, int64_t lda,
                    const void *B, int b_bf16, int64_t ldb, float beta, const float *bias,
                    float *C, int64_t ldc) {
  if (b_bf16)
    packed_driver(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda,
                  static_cast<const uint16_t *>(B), ldb, beta, bias, C, ldc);
  else
    packed_driver(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda,
                  static_cast<const gemm_internal::RoundedF32 *>(B), ldb, beta, bias, C, ldc);
}
}  // namespace

// fl_gemm_bf16 with float32 operands rounded to bf16 as they are read. With a k-pair kernel
// (AVX512_BF16, or FUSELM_GEMM_BF16_PAIRS=1) the packed path's k-pair packers round float32
// values into the very panels fl_gemm_bf16 packs from the rounded copy (gemm_bf16_pairs.cpp), so the
// blocking, kernel and sums are the same and C is the same bits, with no rounded copy written.
// Elsewhere (small M, and the widening levels, whose packed panels hold float32) the float32
// operands are rounded into dense copies and fl_gemm_bf16 runs on them: that sequence itself.
void gemm_mixed(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                float alpha, const void *A, int a_bf16, int64_t lda, const void *B, int b_bf16,
                int64_t ldb, float beta, const float *bias, float *C, int64_t ldc) {
  if (without_product(ctx, M, N, K, alpha, beta, bias, C, ldc)) return;
  const GemmKernel &kr = select_bf16_kernel(ctx.isa);
  if (M > small_m_limit() && kr.k_pairs) {
    if (a_bf16)
      packed_mixed_b(ctx, kr, trans_a, trans_b, M, N, K, alpha, static_cast<const uint16_t *>(A),
                     lda, B, b_bf16, ldb, beta, bias, C, ldc);
    else
      packed_mixed_b(ctx, kr, trans_a, trans_b, M, N, K, alpha,
                     static_cast<const gemm_internal::RoundedF32 *>(A), lda, B, b_bf16, ldb, beta,
                     bias, C, ldc);
    return;
  }
  const uint16_t *a16 = static_cast<const uint16_t *>(A), *b16 = static_cast<const uint16_t *>(B);
  if (!a_bf16) {
    a16 = rounded_copy(ctx, tl_mixed_a, static_cast<const float *>(A), trans_a ? K : M,
                       trans_a ? M : K, lda);
    lda = trans_a ? M : K;
  }
  if (!b_bf16) {
    b16 = rounded_copy(ctx, tl_mixed_b, static_cast<const float *>(B), trans_b ? N : K,
                       trans_b ? K : N, ldb);
    ldb = trans_b ? K : N;
  }
  gemm_bf16(ctx, trans_a, trans_b, M, N, K, alpha, a16, lda, b16, ldb, beta, bias, C, ldc);
}

// ---- fl_gemm_bias_act: the linear layer's inference forward with its epilogue fused -----------

namespace {
// The pointwise table of the level (pointwise.cpp picks the same one).
const PointwiseKernels &pointwise_for(int isa) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (isa >= FL_ISA_AVX512) return avx512_pointwise::kernels;
  if (isa >= FL_ISA_AVX2) return avx2_pointwise::kernels;
#endif
  (void)isa;
  return generic_pointwise::kernels;
}

// A rounded to bf16 for fl_gemm_bias_act (per calling thread, like tl_scratch).
thread_local Scratch tl_rounded;
}  // namespace

// C = act(A op(B) + bias). M > kSmallM runs the packed driver with the epilogue in compute():
// each MR x NR tile gets its activation right after the micro-kernel writes the last K block's sum
// (the tile is still in L1), so the pre-activation never makes a round trip through memory. A bf16
// B: A is rounded to bf16 once (a pass over M x K, small next to the M x N x K multiply) and the
// bf16 packed path of fl_gemm_bf16 runs on it (vdpbf16ps k pairs with AVX512_BF16). Small M (decode
// shapes) runs the small-M kernels and then the activation over C.
void gemm_bias_act(const CpuContext &ctx, int trans_b, int64_t M, int64_t N, int64_t K,
                   const float *A, int64_t lda, const void *B, int b_bf16, int64_t ldb,
                   const float *bias, int act, float *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const PointwiseKernels &pw = pointwise_for(ctx.isa);
  const bool packed = K > 0 && M > small_m_limit();
  if (!b_bf16) {
    const float *Bf = static_cast<const float *>(B);
    if (packed) {
      packed_driver(ctx, select_kernel(ctx.isa), 0, trans_b, M, N, K, 1.f, A, lda, Bf, ldb, 0.f,
                    bias, C, ldc, act, &pw);
      return;
    }
    gemm_driver(ctx, 0, trans_b, M, N, K, 1.f, A, lda, Bf, ldb, 0.f, bias, C, ldc);
  } else {
    const uint16_t *Bh = static_cast<const uint16_t *>(B);
    uint16_t *a16 = reinterpret_cast<uint16_t *>(tl_rounded.get(size_t((M * K + 1) / 2)));
    parallel_for(ctx, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(K, 1)),
                 [&](int64_t i0, int64_t i1) {
                   for (int64_t i = i0; i < i1; i++)
                     for (int64_t p = 0; p < K; p++) a16[i * K + p] = f32_to_bf16_rne(A[i * lda + p]);
                 });
    if (packed) {
      packed_driver(ctx, select_bf16_kernel(ctx.isa), 0, trans_b, M, N, K, 1.f, a16, K, Bh, ldb,
                    0.f, bias, C, ldc, act, &pw);
      return;
    }
    gemm_bf16(ctx, 0, trans_b, M, N, K, 1.f, a16, K, Bh, ldb, 0.f, bias, C, ldc);
  }
  if (act == FL_ACT_NONE) return;
  parallel_for(ctx, M, std::max<int64_t>(1, 16384 / N), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      float *row = C + i * ldc;
      if (act == FL_ACT_GELU_TANH) pw.gelu_forward(row, row, N);
      else pw.gelu_erf_forward(row, row, N);
    }
  });
}

}  // namespace cpu
}  // namespace fl
