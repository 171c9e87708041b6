// Fused AdamW over a parameter slab, and the global gradient norm, on the CPU backend.
//
// grad_norm is deterministic for any thread count: the slab is cut into fixed 64Ki-element blocks
// (independent of the threads), each block's sum of squares is computed in double with a fixed lane
// order, and the block sums are added in block order. Exact resume of training relies on this.
// AdamW is elementwise, so any split gives the same result; a chunk that straddles segments runs
// the kernel once per segment piece with that segment's decay factor.
#include <algorithm>
#include <cmath>
#include <vector>

#include "fuselm.h"
#include "internal.h"
#include "cpu_kernels.h"

namespace fl::cpu {

namespace {

constexpr int64_t kNormBlock = 65536;

double *scratch(size_t n) {
  static thread_local std::vector<double> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void grad_norm(const CpuContext &ctx, float *out, const float *grads, int64_t n) {
  const AdamWKernels &k = *ctx.kernels->adamw;
  const int64_t blocks = (n + kNormBlock - 1) / kNormBlock;
  double *partial = scratch(static_cast<size_t>(blocks));
  parallel_for(ctx, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
      const int64_t i0 = b * kNormBlock, i1 = std::min(n, i0 + kNormBlock);
      partial[b] = k.sum_squares(grads + i0, i1 - i0);
    }
  });
  double total = 0.0;
  for (int64_t b = 0; b < blocks; b++) total += partial[b];
  *out = static_cast<float>(std::sqrt(total));
}

void adamw_step(const CpuContext &ctx, float *params, const float *grads, float *m, float *v,
                int64_t n, const int64_t *seg_offsets, const uint8_t *seg_decay, int64_t nseg,
                float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                float grad_scale) {
  if (n == 0) return;
  // Bias corrections in double, as PyTorch computes them (Python floats), then rounded to float.
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  AdamWStep s;
  s.beta1 = beta1;
  s.one_minus_beta1 = 1.0f - beta1;
  s.beta2 = beta2;
  s.one_minus_beta2 = 1.0f - beta2;
  s.step_size = static_cast<float>(static_cast<double>(lr) / bc1);
  s.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  s.eps = eps;
  s.grad_scale = grad_scale;
  const float decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  const AdamWKernels &k = *ctx.kernels->adamw;
  parallel_for(ctx, n, 32768, [&](int64_t i0, int64_t i1) {
    // the segment holding i0: the last s with seg_offsets[s] <= i0 (skips empty segments)
    int64_t seg = std::upper_bound(seg_offsets, seg_offsets + nseg + 1, i0) - seg_offsets - 1;
    for (int64_t i = i0; i < i1; seg++) {
      const int64_t e = std::min(i1, seg_offsets[seg + 1]);
      if (e > i) k.adamw(params + i, grads + i, m + i, v + i, e - i, seg_decay[seg] ? decay : 1.0f, s);
      i = std::max(i, e);
    }
  });
}

}  // namespace fl::cpu
