// Reference bf16 conversions and the bf16-weight GEMM: plain loops, the oracle for the other
// backends. The rounding is written independently of the CPU backend's bit trick: the two bf16
// neighbours of x are compared by distance in double, a tie going to the even one.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "fuselm.h"
#include "internal.h"

namespace fl {
namespace ref {

namespace {
float widen(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint16_t narrow(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if (std::isnan(x)) return uint16_t((u >> 16) | 0x0040u);
  if (std::isinf(x)) return uint16_t(u >> 16);
  const uint16_t lo = uint16_t(u >> 16);  // truncation: the neighbour towards zero
  const uint32_t exp = (uint32_t(lo) >> 7) & 0xffu;
  // the spacing of bf16 values at lo's exponent (subnormals share the smallest normal's)
  const double ulp = std::ldexp(1.0, (exp == 0 ? 1 : int(exp)) - 127 - 7);
  const double below = std::fabs(double(widen(lo)));
  const double above = below + ulp;  // the neighbour away from zero (2^128 for the largest: inf)
  const double ax = std::fabs(double(x));
  const double to_below = ax - below, to_above = above - ax;  // both exact in double
  if (to_below < to_above) return lo;
  if (to_below > to_above) return uint16_t(lo + 1);
  return (lo & 1u) ? uint16_t(lo + 1) : lo;  // a tie: the even neighbour
}
}  // namespace

void f32_to_bf16(uint16_t *dst, const float *src, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = narrow(src[i]);
}

void bf16_to_f32(float *dst, const uint16_t *src, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = widen(src[i]);
}

namespace {
// An operand element as float: bf16 widened exactly, float as is.
float as_float(uint16_t h) { return widen(h); }
float as_float(float f) { return f; }

// C = alpha * op(A) op(B) + beta * C (+ bias) with B in bf16 and A in bf16 or float32; double
// accumulation. beta == 0: C is not read. alpha == 0 or K == 0: A and B are not read.
template <class TA>
void gemm_bf16_b(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const TA *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
                 const float *bias, float *C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0.0;
      if (alpha != 0.f)
        for (int64_t p = 0; p < K; p++) {
          float a = as_float(trans_a ? A[p * lda + i] : A[i * lda + p]);
          float b = widen(trans_b ? B[j * ldb + p] : B[p * ldb + j]);
          s += double(a) * double(b);
        }
      double v = double(alpha) * s;
      if (beta != 0.f) v += double(beta) * double(C[i * ldc + j]);
      if (bias) v += double(bias[j]);
      C[i * ldc + j] = float(v);
    }
}
}  // namespace

void sgemm_bf16w(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
                 const float *bias, float *C, int64_t ldc) {
  gemm_bf16_b(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
}

void gemm_bf16(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta,
               const float *bias, float *C, int64_t ldc) {
  gemm_bf16_b(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
}

}  // namespace ref
}  // namespace fl

namespace fl {
namespace ref {

// The unfused sequence the CPU's fused epilogue must match: the GEMM (A rounded to bf16 first for a
// bf16 B), then the activation over C.
void gemm_bias_act(int trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                   const void *B, int b_bf16, int64_t ldb, const float *bias, int act, float *C,
                   int64_t ldc) {
  if (b_bf16) {
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0.0;
        for (int64_t p = 0; p < K; p++) {
          float a = widen(narrow(A[i * lda + p]));
          uint16_t bv = static_cast<const uint16_t *>(B)[trans_b ? j * ldb + p : p * ldb + j];
          s += double(a) * double(widen(bv));
        }
        C[i * ldc + j] = float(s + (bias ? double(bias[j]) : 0.0));
      }
  } else {
    sgemm_bias(0, trans_b, M, N, K, A, lda, static_cast<const float *>(B), ldb, bias, C, ldc);
  }
  if (act == FL_ACT_NONE) return;
  for (int64_t i = 0; i < M; i++) {
    float *c = C + i * ldc;
    if (act == FL_ACT_GELU_TANH) gelu_forward(c, c, N);
    else gelu_erf_forward(c, c, N);
  }
}

}  // namespace ref
}  // namespace fl

namespace fl {
namespace ref {

// Round, then multiply: each float32 operand element rounded to bf16 (narrow above), bf16 ones
// widened, double sums as gemm_bf16_b.
void gemm_mixed(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const void *A, int a_bf16, int64_t lda, const void *B, int b_bf16, int64_t ldb,
                float beta, const float *bias, float *C, int64_t ldc) {
  auto element = [](const void *X, int x_bf16, int64_t at) {
    return x_bf16 ? widen(static_cast<const uint16_t *>(X)[at])
                  : widen(narrow(static_cast<const float *>(X)[at]));
  };
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0.0;
      if (alpha != 0.f)
        for (int64_t p = 0; p < K; p++) {
          float a = element(A, a_bf16, trans_a ? p * lda + i : i * lda + p);
          float b = element(B, b_bf16, trans_b ? j * ldb + p : p * ldb + j);
          s += double(a) * double(b);
        }
      double v = double(alpha) * s;
      if (beta != 0.f) v += double(beta) * double(C[i * ldc + j]);
      if (bias) v += double(bias[j]);
      C[i * ldc + j] = float(v);
    }
}

}  // namespace ref
}  // namespace fl
