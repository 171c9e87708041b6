// Layer norm on the CPU backend: forward, backward and the fused residual-add + layer norm forward.
// Rows are independent, so forward and dinp run parallel over rows. dweight/dbias are sums over all
// rows: every fixed block of rows writes its own partial sums, and the partials are then added in
// block order, so the result is race-free and the same for any thread count.
#include <algorithm>
#include <vector>

#include "fuselm.h"
#include "internal.h"
#include "cpu_kernels.h"

namespace fl::cpu {

namespace {

// about 16K floats of work per chunk, so small problems stay on the calling thread
int64_t row_grain(int64_t C) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)); }

// Grow-only per-thread scratch for the partial sums, so a training loop does not allocate per step.
float *scratch(size_t n) {
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void layernorm_forward(const CpuContext &ctx, float *out, float *mean, float *rstd,
                       const float *inp, const float *weight, const float *bias, int64_t N,
                       int64_t C, float eps) {
  if (N == 0 || C == 0) return;
  const LayerNormKernels &k = *ctx.kernels->layernorm;
  parallel_for(ctx, N, row_grain(C), [&](int64_t r0, int64_t r1) {
    k.forward_rows(out, mean, rstd, inp, weight, bias, r0, r1, C, eps);
  });
}

void residual_layernorm_forward(const CpuContext &ctx, float *residual_out, float *out,
                                float *mean, float *rstd, const float *a, const float *b,
                                const float *weight, const float *bias, int64_t N, int64_t C,
                                float eps) {
  if (N == 0 || C == 0) return;
  const LayerNormKernels &k = *ctx.kernels->layernorm;
  parallel_for(ctx, N, row_grain(C), [&](int64_t r0, int64_t r1) {
    k.residual_forward_rows(residual_out, out, mean, rstd, a, b, weight, bias, r0, r1, C, eps);
  });
}

void layernorm_backward(const CpuContext &ctx, float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        const float *mean, const float *rstd, int64_t N, int64_t C) {
  if (N == 0 || C == 0) return;
  const LayerNormKernels &k = *ctx.kernels->layernorm;
  if (dweight == nullptr && dbias == nullptr) {
    if (dinp == nullptr) return;
    parallel_for(ctx, N, row_grain(C), [&](int64_t r0, int64_t r1) {
      k.backward_rows(dinp, nullptr, nullptr, dout, inp, weight, mean, rstd, r0, r1, C);
    });
    return;
  }
  // Fixed blocking: depends on N and C only, never on the thread count (at most 64 blocks).
  const int64_t rows_per_block = std::max((N + 63) / 64, row_grain(C));
  const int64_t blocks = (N + rows_per_block - 1) / rows_per_block;
  float *parts = scratch(static_cast<size_t>(blocks * 2 * C));  // [block][dweight C | dbias C]
  parallel_for(ctx, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; blk++) {
      const int64_t r0 = blk * rows_per_block, r1 = std::min(N, r0 + rows_per_block);
      float *part = parts + blk * 2 * C;
      k.backward_rows(dinp, part, part + C, dout, inp, weight, mean, rstd, r0, r1, C);
    }
  });
  // Column-parallel ordered reduction of the block partials into the outputs (add-into).
  parallel_for(ctx, C, 1024, [&](int64_t c0, int64_t c1) {
    for (int64_t blk = 1; blk < blocks; blk++) {
      const float *src = parts + blk * 2 * C;
      for (int64_t c = c0; c < c1; c++) {
        parts[c] += src[c];
        parts[C + c] += src[C + c];
      }
    }
    if (dweight != nullptr)
      for (int64_t c = c0; c < c1; c++) dweight[c] += parts[c];
    if (dbias != nullptr)
      for (int64_t c = c0; c < c1; c++) dbias[c] += parts[C + c];
  });
}

}  // namespace fl::cpu
