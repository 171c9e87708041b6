// Token + position embedding on the CPU backend.
//
// Forward: parallel over the B*T output rows. Backward (scatter-add): repeated token ids make rows of
// dwte collide, so instead of splitting the tokens we split the C columns in 16-float (64-byte)
// blocks: each thread owns whole cache lines of every dwte row and walks all tokens in order. That is
// race-free without atomics, and every dwte element receives its additions in token order, so the
// result is bitwise the same as the serial reference for any thread count. dwpe rows are owned per
// position t and summed over b in order. No ISA variants: these are copies and adds that the
// baseline (SSE2) vectorisation already runs at memory speed.
#include <algorithm>

#include "internal.h"

namespace fl::cpu {

void embedding_forward(const CpuContext &ctx, float *out, const int32_t *ids, const float *wte,
                       const float *wpe, int64_t B, int64_t T, int64_t C) {
  if (C == 0) return;
  const int64_t grain = std::max<int64_t>(1, 16384 / C);
  parallel_for(ctx, B * T, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      float *__restrict o = out + r * C;
      const float *__restrict w = wte + static_cast<int64_t>(ids[r]) * C;
      if (wpe != nullptr) {
        const float *__restrict p = wpe + (r % T) * C;
        for (int64_t c = 0; c < C; c++) o[c] = w[c] + p[c];
      } else {
        for (int64_t c = 0; c < C; c++) o[c] = w[c];
      }
    }
  });
}

void embedding_backward(const CpuContext &ctx, float *dwte, float *dwpe, const float *dout,
                        const int32_t *ids, int64_t B, int64_t T, int64_t C) {
  const int64_t rows = B * T;
  if (rows == 0 || C == 0) return;
  if (dwte != nullptr) {
    constexpr int64_t kBlock = 16;  // floats per column block: one cache line
    const int64_t nblocks = (C + kBlock - 1) / kBlock;
    // enough blocks per chunk for ~16K float additions, so small calls stay single-threaded
    const int64_t grain = std::max<int64_t>(1, 16384 / (rows * kBlock));
    parallel_for(ctx, nblocks, grain, [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * kBlock, c1 = std::min(C, b1 * kBlock);
      for (int64_t r = 0; r < rows; r++) {
        float *__restrict d = dwte + static_cast<int64_t>(ids[r]) * C;
        const float *__restrict g = dout + r * C;
        for (int64_t c = c0; c < c1; c++) d[c] += g[c];
      }
    });
  }
  if (dwpe != nullptr) {
    const int64_t grain = std::max<int64_t>(1, 16384 / (B * C));
    parallel_for(ctx, T, grain, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; t++) {
        float *__restrict d = dwpe + t * C;
        for (int64_t b = 0; b < B; b++) {
          const float *__restrict g = dout + (b * T + t) * C;
          for (int64_t c = 0; c < C; c++) d[c] += g[c];
        }
      }
    });
  }
}

}  // namespace fl::cpu
