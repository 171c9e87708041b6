// CPU backend: float32 <-> bf16 conversion of whole arrays (once, when a model's weights are
// narrowed for generation; bound by memory, written as plain loops the compiler vectorises).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "bf16.h"
#include "internal.h"

namespace fl {
namespace cpu {

void f32_to_bf16(const CpuContext &ctx, uint16_t *dst, const float *src, int64_t n) {
  parallel_for(ctx, n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) dst[i] = f32_to_bf16_rne(src[i]);
  });
}

void bf16_to_f32(const CpuContext &ctx, float *dst, const uint16_t *src, int64_t n) {
  parallel_for(ctx, n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) dst[i] = cpu::bf16_to_f32(src[i]);
  });
}

// Scaffolding so every backend links: widens both operands and runs the fp32 GEMM. To be replaced by
// packing kernels that widen (or, with AVX512_BF16, use vdpbf16ps) without the full copies.
void gemm_bf16(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
               float alpha, const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
               float beta, const float *bias, float *C, int64_t ldc) {
  const int64_t a_rows = trans_a ? K : M, b_rows = trans_b ? N : K;
  const int64_t a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
  std::vector<float> a(static_cast<size_t>(a_rows * a_cols)), b(static_cast<size_t>(b_rows * b_cols));
  for (int64_t r = 0; r < a_rows; r++) bf16_to_f32(ctx, a.data() + r * a_cols, A + r * lda, a_cols);
  for (int64_t r = 0; r < b_rows; r++) bf16_to_f32(ctx, b.data() + r * b_cols, B + r * ldb, b_cols);
  sgemm(ctx, trans_a, trans_b, M, N, K, alpha, a.data(), a_cols, b.data(), b_cols, beta, C, ldc);
  if (bias != nullptr)
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) C[i * ldc + j] += bias[j];
}

}  // namespace cpu
}  // namespace fl
