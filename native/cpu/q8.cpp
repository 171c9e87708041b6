// int8 weights on the CPU backend (fuselm.h "int8 weights"; layouts in q8.h): quantization and
// repacking (the reference's loops, run over column ranges on the context's threads), the portable
// GEMV kernel, and the dispatch to the AVX2 and AVX-512 VNNI kernels.
#include <vector>

#include "internal.h"
#include "q8.h"
#include "fuselm.h"

namespace fl {
namespace q8 {

void kernel_generic(int rows, const Activations &a, int64_t k, int64_t n, const uint8_t *packed,
                    int64_t g0, int64_t g1, const float *bias, float *y, int64_t ldy) {
  const int64_t nb = k / kBlock;
  for (int64_t g = g0; g < g1; g++) {
    float acc[kRows][kGroup] = {};
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t *chunk = packed + (g * nb + b) * kChunkBytes;
      for (int c = 0; c < kGroup; c++) {
        const float d = half_to_float(uint16_t(chunk[2 * c] | chunk[2 * c + 1] << 8));
        for (int r = 0; r < rows; r++) {
          const int8_t *xq = a.xq[r] + b * kBlock;
          int32_t dot = 0;
          for (int i = 0; i < kBlock; i++) dot += int(chunk[32 + (i / 4) * 64 + c * 4 + i % 4]) * xq[i];
          dot -= 128 * a.sx[r][b];
          acc[r][c] = __builtin_fmaf(float(dot), d * a.dx[r][b], acc[r][c]);
        }
      }
    }
    for (int r = 0; r < rows; r++) store_group(acc[r], g, n, bias, y + r * ldy);
  }
}

}  // namespace q8

namespace cpu {

void q8_0_quantize(const CpuContext &ctx, uint8_t *blocks, const float *W, int64_t K, int64_t N,
                   int w_is_kn) {
  const int64_t nb = K / q8::kBlock;
  if (!w_is_kn) {  // rows of W are the Q8_0 rows: quantize each range of rows as its own matrix
    parallel_for(ctx, N, 64, [&](int64_t j0, int64_t j1) {
      ref::q8_0_quantize(blocks + j0 * nb * q8::kBlockBytes, W + j0 * K, K, j1 - j0, 0);
    });
    return;
  }
  // W (K, N): a column range is W's columns j0.. with row stride N; gather it, then quantize
  parallel_for(ctx, N, 64, [&](int64_t j0, int64_t j1) {
    const int64_t cols = j1 - j0;
    std::vector<float> t(size_t(cols * K));
    for (int64_t p = 0; p < K; p++)
      for (int64_t j = 0; j < cols; j++) t[size_t(j * K + p)] = W[p * N + j0 + j];
    ref::q8_0_quantize(blocks + j0 * nb * q8::kBlockBytes, t.data(), K, cols, 0);
  });
}

void q8_0_repack(const CpuContext &ctx, uint8_t *packed, const uint8_t *blocks, int64_t K,
                 int64_t N) {
  const int64_t nb = K / q8::kBlock;
  parallel_for(ctx, q8::groups(N), 16, [&](int64_t g0, int64_t g1) {
    const int64_t j0 = g0 * q8::kGroup, j1 = g1 * q8::kGroup < N ? g1 * q8::kGroup : N;
    ref::q8_0_repack(packed + g0 * nb * q8::kChunkBytes, blocks + j0 * nb * q8::kBlockBytes, K,
                     j1 - j0);
  });
}

namespace {

bool has_vnni(const CpuContext &ctx) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (ctx.isa < FL_ISA_AVX512) return false;
#if defined(FUSELM_SIMDE_AVX512)
  return true;  // emulation build: vpdpbusd comes from SIMDe
#else
  static const bool vnni = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") != 0;
  }();
  return vnni;
#endif
#else
  (void)ctx;
  return false;
#endif
}

q8::Kernel pick_kernel(const CpuContext &ctx) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (has_vnni(ctx)) return q8::kernel_avx512_vnni;
  if (ctx.isa >= FL_ISA_AVX2) return q8::kernel_avx2;
#endif
  return q8::kernel_generic;
}

}  // namespace

void gemv_q8_0(const CpuContext &ctx, int64_t M, int64_t N, int64_t K, const float *X,
               int64_t ldx, const uint8_t *packed, const float *bias, float *Y, int64_t ldy) {
  if (M == 0 || N == 0) return;
  const int64_t nb = K / q8::kBlock;
  std::vector<int8_t> xq(size_t(M * K));
  std::vector<float> dx(size_t(M * nb));
  std::vector<int32_t> sx(size_t(M * nb));
  for (int64_t m = 0; m < M; m++)
    q8::quantize_activations(X + m * ldx, K, xq.data() + m * K, dx.data() + m * nb,
                             sx.data() + m * nb);
  const q8::Kernel kernel = pick_kernel(ctx);
  // threads own ranges of column groups (contiguous in memory); within a group range every row
  // block re-reads the group's weights from L2 (at most 52 KiB per group at K = 3072)
  const int64_t grain = K >= 2048 ? 2 : 4;
  parallel_for(ctx, q8::groups(N), grain, [&](int64_t g0, int64_t g1) {
    if (M <= q8::kRows) {  // decoding: one pass over the range
      q8::Activations a;
      for (int r = 0; r < M; r++) {
        a.xq[r] = xq.data() + r * K;
        a.dx[r] = dx.data() + r * nb;
        a.sx[r] = sx.data() + r * nb;
      }
      kernel(int(M), a, K, N, packed, g0, g1, bias, Y, ldy);
      return;
    }
    for (int64_t g = g0; g < g1; g++)
      for (int64_t m0 = 0; m0 < M; m0 += q8::kRows) {
        const int rows = int(M - m0 < q8::kRows ? M - m0 : q8::kRows);
        q8::Activations a;
        for (int r = 0; r < rows; r++) {
          a.xq[r] = xq.data() + (m0 + r) * K;
          a.dx[r] = dx.data() + (m0 + r) * nb;
          a.sx[r] = sx.data() + (m0 + r) * nb;
        }
        kernel(rows, a, K, N, packed, g, g + 1, bias, Y + m0 * ldy, ldy);
      }
  });
}

}  // namespace cpu
}  // namespace fl
