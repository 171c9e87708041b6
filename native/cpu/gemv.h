// Decode GEMV kernels (M <= kSmallM rows: one token per sequence in KV-cached generation) for
// AVX-512, with float32 or bf16 weights. They replace the AVX-512 instantiation of the small-M
// kernels (gemm_small_impl.h) inside gemm.cpp's small_m_driver (same contract as
// gemm_detail::SmallMFn, same thread split), and compute the SAME bits: every output is the same
// sequence of float32 operations as there (one fused chain over k per column for B (k, n); lanes
// over k, the same horizontal sum, the k tail, for B (n, k)), so a row has the same bits on either
// path, alone or batched, for every thread count. What differs is how B is streamed:
//   - B (k, n), trans_b = 0 (GPT-2's Conv1D block matrices): the thread's column block is read
//     row by row, 4 rows at a time, with a software prefetch of the same columns PD rows ahead
//     (about 16 KiB ahead), so the memory system sees the thread's runs before they are needed
//     instead of waiting for the hardware prefetcher to learn each short run.
//   - bf16 B: 32 columns per 64-byte load, widened WITHOUT a shuffle: a 32-bit lane holds the bf16
//     of columns 2l (low half) and 2l + 1 (high half); `lane << 16` is column 2l's float32 and
//     `lane & 0xffff0000` column 2l + 1's, each exact, straight into the fused multiply-add. The
//     accumulators are kept in that (even, odd) column order and put back in order once, at the
//     end of the block.
//   - B (n, k), trans_b = 1 (the tied LM head): 4 rows of B per tile as before, plus a prefetch of
//     the rows 8 ahead.
// FUSELM_GEMV=0 switches back to the previous kernels (a measurement aid: same results).
#pragma once

#include <cstdint>

namespace fl {
namespace cpu {
namespace gemv {

#if defined(FUSELM_HAVE_X86_SIMD)
void small_m_avx512(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                    int64_t ldx, const float *b, int64_t ldb, float beta, const float *bias,
                    float *c, int64_t ldc);
void small_m_bf16_avx512(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *x, int64_t ldx, const uint16_t *b, int64_t ldb, float beta,
                         const float *bias, float *c, int64_t ldc);
#endif

}  // namespace gemv
}  // namespace cpu
}  // namespace fl
