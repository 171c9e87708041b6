// Softmax and fused softmax + cross-entropy on the CPU backend. Parallel over rows; the mean loss is
// summed in double over the per-row losses in row order after the parallel part, so it is the same
// for any thread count (training resume relies on that).
#include <algorithm>
#include <cstring>
#include <vector>

#include "fuselm.h"
#include "internal.h"
#include "cpu_kernels.h"

namespace fl::cpu {

namespace {

int64_t row_grain(int64_t V) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(V, 1)); }

// Grow-only per-thread scratch (per-row losses when the caller passes losses == NULL).
float *scratch(size_t n) {
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void softmax_forward(const CpuContext &ctx, float *out, const float *inp, int64_t N, int64_t V) {
  if (V == 0) return;
  const SoftmaxKernels &k = *ctx.kernels->softmax;
  parallel_for(ctx, N, row_grain(V), [&](int64_t r0, int64_t r1) {
    k.softmax_forward_rows(out, inp, r0, r1, V);
  });
}

void softmax_backward(const CpuContext &ctx, float *dinp, const float *out, const float *dout,
                      int64_t N, int64_t V) {
  if (V == 0 || dinp == nullptr) return;
  const SoftmaxKernels &k = *ctx.kernels->softmax;
  parallel_for(ctx, N, row_grain(V), [&](int64_t r0, int64_t r1) {
    k.softmax_backward_rows(dinp, out, dout, r0, r1, V);
  });
}

void cross_entropy_forward(const CpuContext &ctx, float *mean_loss, int64_t *count, float *losses,
                           float *lse, const float *logits, const int32_t *targets, int64_t N,
                           int64_t V, int32_t ignore_index) {
  float *row_loss = losses != nullptr ? losses : scratch(static_cast<size_t>(N));
  const SoftmaxKernels &k = *ctx.kernels->softmax;
  parallel_for(ctx, N, row_grain(V), [&](int64_t r0, int64_t r1) {
    k.ce_forward_rows(row_loss, lse, logits, targets, r0, r1, V, ignore_index);
  });
  // Ordered reduction: fixed row order, double accumulator.
  double sum = 0.0;
  int64_t n = 0;
  for (int64_t r = 0; r < N; r++) {
    if (targets[r] == ignore_index) continue;
    sum += static_cast<double>(row_loss[r]);
    n++;
  }
  *count = n;
  *mean_loss = n > 0 ? static_cast<float>(sum / static_cast<double>(n)) : 0.0f;
}

void cross_entropy_backward(const CpuContext &ctx, float *dlogits, const float *logits,
                            const float *lse, const int32_t *targets, int64_t N, int64_t V,
                            int32_t ignore_index, float dloss, int64_t count) {
  if (N == 0 || V == 0) return;
  if (count <= 0) {
    parallel_for(ctx, N * V, 16384, [&](int64_t i0, int64_t i1) {
      std::memset(dlogits + i0, 0, static_cast<size_t>(i1 - i0) * sizeof(float));
    });
    return;
  }
  const float scale = dloss / static_cast<float>(count);
  const SoftmaxKernels &k = *ctx.kernels->softmax;
  parallel_for(ctx, N, row_grain(V), [&](int64_t r0, int64_t r1) {
    k.ce_backward_rows(dlogits, logits, lse, targets, r0, r1, V, ignore_index, scale);
  });
}

}  // namespace fl::cpu
