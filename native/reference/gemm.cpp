// Reference GEMM, fused-bias GEMM and bias gradient: plain loops with double accumulation. The oracle
// the optimised backends are tested against; never fast.
#include <cstdint>

#include "internal.h"

namespace fl {
namespace ref {

namespace {
inline float op_a(int trans_a, const float *A, int64_t lda, int64_t i, int64_t p) {
  return trans_a ? A[p * lda + i] : A[i * lda + p];
}
inline float op_b(int trans_b, const float *B, int64_t ldb, int64_t p, int64_t j) {
  return trans_b ? B[j * ldb + p] : B[p * ldb + j];
}
}  // namespace

// C = alpha * op(A) op(B) + beta * C. beta == 0: C is not read. alpha == 0 or K == 0: A and B are
// not read (C = beta * C), as in BLAS.
void sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
           int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0.0;
      if (alpha != 0.f)
        for (int64_t p = 0; p < K; p++)
          s += double(op_a(trans_a, A, lda, i, p)) * double(op_b(trans_b, B, ldb, p, j));
      double v = double(alpha) * s;
      if (beta != 0.f) v += double(beta) * double(C[i * ldc + j]);
      C[i * ldc + j] = float(v);
    }
}

// C = op(A) op(B) + bias (bias broadcast over rows; NULL = none). C is not read.
void sgemm_bias(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                int64_t lda, const float *B, int64_t ldb, const float *bias, float *C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = bias ? double(bias[j]) : 0.0;
      for (int64_t p = 0; p < K; p++)
        s += double(op_a(trans_a, A, lda, i, p)) * double(op_b(trans_b, B, ldb, p, j));
      C[i * ldc + j] = float(s);
    }
}

// dbias[j] += sum_i dout[i*N + j]
void bias_backward(float *dbias, const float *dout, int64_t M, int64_t N) {
  for (int64_t j = 0; j < N; j++) {
    double s = 0.0;
    for (int64_t i = 0; i < M; i++) s += double(dout[i * N + j]);
    dbias[j] = float(double(dbias[j]) + s);
  }
}

}  // namespace ref
}  // namespace fl
