// Optimizer kernels over the whole parameter slab: global gradient norm and fused AdamW.
//
// grad_norm: deterministic two-pass reduction. A fixed number of blocks (a function of n only)
// each sum g^2 in double over a grid-stride range and write one partial; one block adds the partials
// in a fixed tree and takes the square root. Same n, same bits, on any run.
//
// adamw_step: one launch over all n elements, PyTorch's AdamW in float in the reference's order
// (decay, moments, bias-corrected update). The segment table is host memory (fuselm.h); the host
// merges adjacent segments with the same decay flag into runs and uploads the run boundaries to
// device scratch through pinned staging. Each block finds the run of its first element by binary
// search; threads then walk forward, so the per-element cost is a compare.
#include <cmath>
#include <vector>

#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

constexpr int kNormThreads = 512;
constexpr int kMaxNormBlocks = 1024;

__global__ void sumsq_partial_kernel(double *partial, const float *g, int64_t n) {
  __shared__ double shared[32];
  double s = 0.0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double x = g[i];
    s += x * x;
  }
  s = block_sum(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sumsq_finish_kernel(float *out, const double *partial, int nparts) {
  __shared__ double shared[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += partial[i];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) *out = static_cast<float>(sqrt(s));
}

// run_end[k] is the end (exclusive) of run k; run k decays when (k & 1) == first_decays ^ 0...
// i.e. runs alternate, starting with flag first_decays.
__global__ void adamw_kernel(float *params, const float *grads, float *m, float *v, int64_t n,
                             const int64_t *run_end, int nruns, int first_decays, float beta1,
                             float beta2, float eps, float step_size, float bc2_sqrt, float decay,
                             float grad_scale) {
  __shared__ int block_run;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x; base < n; base += stride) {
    // the run holding this block's first element: smallest k with run_end[k] > base
    __syncthreads();  // block_run of the previous iteration has been read by all threads
    if (threadIdx.x == 0) {
      int lo = 0, hi = nruns - 1;
      while (lo < hi) {
        const int mid = (lo + hi) >> 1;
        if (run_end[mid] > base) hi = mid; else lo = mid + 1;
      }
      block_run = lo;
    }
    __syncthreads();
    const int64_t i = base + threadIdx.x;
    if (i >= n) continue;
    int k = block_run;
    while (run_end[k] <= i) k++;
    const bool decays = ((k & 1) == 0) == (first_decays != 0);
    const float g = grads[i] * grad_scale;
    float p = params[i];
    if (decays) p *= decay;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * (g * g);
    m[i] = mi;
    v[i] = vi;
    params[i] = p - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
  }
}

}  // namespace

void grad_norm(CudaContext &ctx, float *out, const float *grads, int64_t n) {
  activate(ctx);
  int64_t blocks = (n + kNormThreads * 8 - 1) / (kNormThreads * 8);  // >= 8 elements per thread
  if (blocks > kMaxNormBlocks) blocks = kMaxNormBlocks;
  if (blocks < 1) blocks = 1;
  // scratch: [result float, padded][partials]
  char *base = static_cast<char *>(scratch(ctx, 256 + blocks * 8));
  float *result = reinterpret_cast<float *>(base);
  double *partial = reinterpret_cast<double *>(base + 256);
  sumsq_partial_kernel<<<static_cast<unsigned>(blocks), kNormThreads, 0, stream_of(ctx)>>>(partial,
                                                                                          grads, n);
  check_launch(ctx, "fl_grad_norm/sumsq_partial_kernel");
  sumsq_finish_kernel<<<1, 1024, 0, stream_of(ctx)>>>(result, partial, static_cast<int>(blocks));
  check_launch(ctx, "fl_grad_norm/sumsq_finish_kernel");
  store_scalar(ctx, out, result, sizeof(float), "fl_grad_norm/result");
}

void adamw_step(CudaContext &ctx, float *params, const float *grads, float *m, float *v, int64_t n,
                const int64_t *seg_offsets, const uint8_t *seg_decay, int64_t nseg, float lr,
                float beta1, float beta2, float eps, float weight_decay, int64_t t,
                float grad_scale) {
  if (n == 0) return;
  activate(ctx);
  // Merge segments into alternating decay / no-decay runs (empty segments vanish).
  std::vector<int64_t> run_end;
  int first_decays = -1;
  int current = -1;
  for (int64_t s = 0; s < nseg; s++) {
    if (seg_offsets[s + 1] == seg_offsets[s]) continue;
    const int d = seg_decay[s] != 0;
    if (d == current) {
      run_end.back() = seg_offsets[s + 1];
    } else {
      if (first_decays < 0) first_decays = d;
      run_end.push_back(seg_offsets[s + 1]);
      current = d;
    }
  }
  if (run_end.empty() || run_end.back() != n)
    throw Error(FL_ERR_INVALID_ARGUMENT, "fl_adamw_step: the segments do not cover [0, n)");
  if (run_end.size() > 2147483647ULL)
    throw Error(FL_ERR_UNSUPPORTED, "fl_adamw_step: too many segments");
  const int64_t *d_run_end = static_cast<const int64_t *>(
      upload_to_scratch(ctx, run_end.data(), static_cast<int64_t>(run_end.size() * sizeof(int64_t)), 0));
  // the same scalar arithmetic as the reference
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  const int threads = 256;
  unsigned blocks = blocks_for(n, threads, static_cast<int64_t>(ctx.sm_count) * 8);
  adamw_kernel<<<blocks, threads, 0, stream_of(ctx)>>>(
      params, grads, m, v, n, d_run_end, static_cast<int>(run_end.size()), first_decays, beta1,
      beta2, eps, step_size, bc2_sqrt, decay, grad_scale);
  check_launch(ctx, "fl_adamw_step/adamw_kernel");
}

}  // namespace cuda
}  // namespace fl
