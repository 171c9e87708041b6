// Row-wise softmax (forward, backward) and the fused softmax + cross-entropy (forward, backward).
//
// One block per row, threads striding over the V columns (coalesced). Two passes over the row: the
// exact max (float), then the sum of exp(x - max) accumulated in double per thread and reduced in a
// fixed tree, so the log-sum-exp matches the double reference to about 1e-7 relative even for
// V = 50257. (A one-pass online max/sum in float is ~10% less traffic but its rescaling error grew to
// a few 1e-6 relative on 50k-wide rows, too close to the conformance tolerance.) The second read of
// the row is served mostly by L2 (a GPT-2 row is 200 KB).
//
// Cross-entropy never writes probabilities: the forward keeps only lse (N) and the per-row loss; the
// mean over non-ignored rows is a second, single-block kernel summing the per-row losses in a fixed
// order (deterministic), and the backward recomputes exp(x - lse) in place.
#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

inline int row_threads(int64_t V) {
  int t = 32;
  while (t < V && t < 512) t <<= 1;
  return t;
}

// max and log(sum exp(x - max)) of one row, in every thread of the block.
__device__ void row_max_sum(const float *x, int64_t V, float *fshared, double *dshared, float &mx,
                            double &sum) {
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) m = fmaxf(m, x[i]);
  mx = block_max(m, fshared);
  double s = 0.0;
  if (mx != -INFINITY) {  // an all -inf row sums to 0 (lse -inf), as the reference
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) s += static_cast<double>(expf(x[i] - mx));
  }
  sum = block_sum(s, dshared);
}

__global__ void softmax_forward_kernel(float *out, const float *inp, int64_t V) {
  __shared__ float fshared[32];
  __shared__ double dshared[32];
  const float *x = inp + blockIdx.x * V;
  float *y = out + blockIdx.x * V;  // may alias x: each element is read, then written, by one thread
  float mx;
  double sum;
  row_max_sum(x, V, fshared, dshared, mx, sum);
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) y[i] = expf(x[i] - mx) * inv;
}

__global__ void softmax_backward_kernel(float *dinp, const float *out, const float *dout, int64_t V) {
  __shared__ double dshared[32];
  const int64_t base = blockIdx.x * V;
  double dot = 0.0;
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x)
    dot += static_cast<double>(dout[base + i]) * out[base + i];
  const float d = static_cast<float>(block_sum(dot, dshared));
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x)
    dinp[base + i] += out[base + i] * (dout[base + i] - d);
}

// Per row: lse, loss (0 when ignored) into row_loss (scratch or the caller's losses).
__global__ void cross_entropy_rows_kernel(float *row_loss, float *lse, const float *logits,
                                          const int32_t *targets, int64_t V, int32_t ignore_index) {
  __shared__ float fshared[32];
  __shared__ double dshared[32];
  const int64_t r = blockIdx.x;
  const float *x = logits + r * V;
  float mx;
  double sum;
  row_max_sum(x, V, fshared, dshared, mx, sum);
  if (threadIdx.x == 0) {
    const double l = static_cast<double>(mx) + log(sum);
    if (lse != nullptr) lse[r] = static_cast<float>(l);
    const int32_t t = targets[r];
    row_loss[r] = t == ignore_index ? 0.0f : static_cast<float>(l - static_cast<double>(x[t]));
  }
}

// One block: total loss (double) and count of non-ignored rows, in a fixed order.
struct LossTotal {
  float mean;
  int32_t pad;
  int64_t count;
};

__global__ void cross_entropy_mean_kernel(LossTotal *total, const float *row_loss,
                                          const int32_t *targets, int64_t N, int32_t ignore_index) {
  __shared__ double dshared[32];
  __shared__ long long cshared[32];
  double s = 0.0;
  long long c = 0;
  for (int64_t r = threadIdx.x; r < N; r += blockDim.x) {
    if (targets[r] != ignore_index) {
      s += row_loss[r];
      c++;
    }
  }
  s = block_sum(s, dshared);
  c = block_sum(c, cshared);
  if (threadIdx.x == 0) {
    total->count = c;
    total->mean = c > 0 ? static_cast<float>(s / static_cast<double>(c)) : 0.0f;
  }
}

// dlogits = scale (exp(x - lse) - onehot(target)), zeros for ignored rows; may run in place.
__global__ void cross_entropy_backward_kernel(float *dlogits, const float *logits, const float *lse,
                                              const int32_t *targets, int64_t V, int32_t ignore_index,
                                              float scale, int all_zero) {
  const int64_t r = blockIdx.x;
  const float *x = logits + r * V;
  float *d = dlogits + r * V;
  const int32_t t = targets[r];
  if (all_zero || t == ignore_index) {
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) d[i] = 0.0f;
    return;
  }
  const float l = lse[r];
  for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
    const float p = expf(x[i] - l);
    d[i] = scale * (p - (i == t ? 1.0f : 0.0f));
  }
}

// Rows go on grid.x (up to 2^31 - 1); N beyond that is split into several launches.
constexpr int64_t kMaxRowsPerLaunch = 2147483647LL;

}  // namespace

void softmax_forward(CudaContext &ctx, float *out, const float *inp, int64_t N, int64_t V) {
  if (N == 0 || V == 0) return;
  activate(ctx);
  for (int64_t r0 = 0; r0 < N; r0 += kMaxRowsPerLaunch) {
    const int64_t rows = N - r0 < kMaxRowsPerLaunch ? N - r0 : kMaxRowsPerLaunch;
    softmax_forward_kernel<<<static_cast<unsigned>(rows), row_threads(V), 0, stream_of(ctx)>>>(
        out + r0 * V, inp + r0 * V, V);
    check_launch(ctx, "fl_softmax_forward/softmax_forward_kernel");
  }
}

void softmax_backward(CudaContext &ctx, float *dinp, const float *out, const float *dout, int64_t N,
                      int64_t V) {
  if (N == 0 || V == 0 || dinp == nullptr) return;
  activate(ctx);
  for (int64_t r0 = 0; r0 < N; r0 += kMaxRowsPerLaunch) {
    const int64_t rows = N - r0 < kMaxRowsPerLaunch ? N - r0 : kMaxRowsPerLaunch;
    softmax_backward_kernel<<<static_cast<unsigned>(rows), row_threads(V), 0, stream_of(ctx)>>>(
        dinp + r0 * V, out + r0 * V, dout + r0 * V, V);
    check_launch(ctx, "fl_softmax_backward/softmax_backward_kernel");
  }
}

void cross_entropy_forward(CudaContext &ctx, float *mean_loss, int64_t *count, float *losses,
                           float *lse, const float *logits, const int32_t *targets, int64_t N,
                           int64_t V, int32_t ignore_index) {
  activate(ctx);
  // scratch: [LossTotal][row losses when the caller passes none]
  const int64_t head = 256;
  char *base = static_cast<char *>(scratch(ctx, head + (losses == nullptr ? N * 4 : 0)));
  LossTotal *total = reinterpret_cast<LossTotal *>(base);
  float *row_loss = losses != nullptr ? losses : reinterpret_cast<float *>(base + head);
  if (N > 0 && V > 0) {
    for (int64_t r0 = 0; r0 < N; r0 += kMaxRowsPerLaunch) {
      const int64_t rows = N - r0 < kMaxRowsPerLaunch ? N - r0 : kMaxRowsPerLaunch;
      cross_entropy_rows_kernel<<<static_cast<unsigned>(rows), row_threads(V), 0, stream_of(ctx)>>>(
          row_loss + r0, lse != nullptr ? lse + r0 : nullptr, logits + r0 * V, targets + r0, V,
          ignore_index);
      check_launch(ctx, "fl_cross_entropy_forward/cross_entropy_rows_kernel");
    }
  }
  // V == 0 leaves no valid target; N == 0 has no rows: the mean kernel then reports 0 rows
  // (with V == 0 the reference would index out of range, so callers never pass it with targets).
  cross_entropy_mean_kernel<<<1, 1024, 0, stream_of(ctx)>>>(total, row_loss, targets,
                                                             V > 0 ? N : 0, ignore_index);
  check_launch(ctx, "fl_cross_entropy_forward/cross_entropy_mean_kernel");
  // the scalars are host memory (the Java layer passes arrays) or device memory
  store_scalar(ctx, mean_loss, &total->mean, sizeof(float), "fl_cross_entropy_forward/mean_loss");
  store_scalar(ctx, count, &total->count, sizeof(int64_t), "fl_cross_entropy_forward/count");
}

void cross_entropy_backward(CudaContext &ctx, float *dlogits, const float *logits, const float *lse,
                            const int32_t *targets, int64_t N, int64_t V, int32_t ignore_index,
                            float dloss, int64_t count) {
  if (N == 0 || V == 0) return;
  activate(ctx);
  const float scale =
      count > 0 ? static_cast<float>(static_cast<double>(dloss) / static_cast<double>(count)) : 0.0f;
  for (int64_t r0 = 0; r0 < N; r0 += kMaxRowsPerLaunch) {
    const int64_t rows = N - r0 < kMaxRowsPerLaunch ? N - r0 : kMaxRowsPerLaunch;
    cross_entropy_backward_kernel<<<static_cast<unsigned>(rows), row_threads(V), 0, stream_of(ctx)>>>(
        dlogits + r0 * V, logits + r0 * V, lse + r0, targets + r0, V, ignore_index, scale,
        count <= 0);
    check_launch(ctx, "fl_cross_entropy_backward/cross_entropy_backward_kernel");
  }
}

}  // namespace cuda
}  // namespace fl
