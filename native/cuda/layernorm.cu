// Layer norm over the last dimension C of N rows: forward, fused residual + forward, backward.
//
// Forward: one warp per row, three coalesced passes over the row (sum; sum of squared deviations,
// i.e. the two-pass variance, no E[x^2] - E[x]^2 cancellation; normalise). Passes 2 and 3 re-read
// the row from L1/L2. The fused residual variant writes residual_out = a + b in pass 1 and reads it
// back (each lane reads exactly the elements it wrote, so residual_out may alias a or b).
//
// Backward, with norm = (x - mean) rstd and g = dout * weight:
//   dinp += (g - mean(g) - norm * mean(g norm)) rstd        one warp per row, two passes
//   dweight += sum_rows dout * norm, dbias += sum_rows dout   column sums, deterministic: blocks of
//   32 columns x a slice of rows write partial sums, a second kernel adds the slices in order.
#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

constexpr int kWarps = 4;  // rows per block in the warp-per-row kernels

__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, float *residual_out,
                                         const float *a, const float *b, const float *weight,
                                         const float *bias, int64_t N, int64_t C, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= N) return;  // whole warps leave together
  const float *xa = a + row * C;
  float sum = 0.0f;
  const float *x;
  if (residual_out != nullptr) {
    const float *xb = b + row * C;
    float *r = residual_out + row * C;
    for (int64_t c = lane; c < C; c += 32) {
      const float v = xa[c] + xb[c];
      r[c] = v;
      sum += v;
    }
    x = r;
  } else {
    for (int64_t c = lane; c < C; c += 32) sum += xa[c];
    x = xa;
  }
  const float m = warp_sum(sum) / static_cast<float>(C);
  float var = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float d = x[c] - m;
    var += d * d;
  }
  var = warp_sum(var) / static_cast<float>(C);
  const float s = 1.0f / sqrtf(var + eps);
  float *y = out + row * C;
  for (int64_t c = lane; c < C; c += 32) y[c] = (x[c] - m) * s * weight[c] + bias[c];
  if (lane == 0) {
    if (mean != nullptr) mean[row] = m;
    if (rstd != nullptr) rstd[row] = s;
  }
}

__global__ void layernorm_backward_dinp_kernel(float *dinp, const float *dout, const float *inp,
                                               const float *weight, const float *mean,
                                               const float *rstd, int64_t N, int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= N) return;
  const float *x = inp + row * C;
  const float *dy = dout + row * C;
  const float m = mean[row], s = rstd[row];
  float sg = 0.0f, sgn = 0.0f;
  for (int64_t c = lane; c < C; c += 32) {
    const float g = dy[c] * weight[c];
    sg += g;
    sgn += g * (x[c] - m) * s;
  }
  const float mean_g = warp_sum(sg) / static_cast<float>(C);
  const float mean_gn = warp_sum(sgn) / static_cast<float>(C);
  float *dx = dinp + row * C;
  for (int64_t c = lane; c < C; c += 32) {
    const float g = dy[c] * weight[c];
    const float norm = (x[c] - m) * s;
    dx[c] += (g - mean_g - norm * mean_gn) * s;
  }
}

// Block (32, 8): 32 columns x a slice of rows. Writes the slice's sums to partial[slice][2][C], or
// adds them into dweight/dbias directly when there is one slice.
__global__ void layernorm_backward_params_kernel(float *partial, float *dweight, float *dbias,
                                                 const float *dout, const float *inp,
                                                 const float *mean, const float *rstd, int64_t N,
                                                 int64_t C, int64_t rows_per_slice) {
  __shared__ float sw[8][33], sb[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  const int64_t r0 = blockIdx.y * rows_per_slice;
  const int64_t r1 = r0 + rows_per_slice < N ? r0 + rows_per_slice : N;
  float aw = 0.0f, ab = 0.0f;
  if (col < C) {
    for (int64_t r = r0 + ty; r < r1; r += 8) {
      const float dy = dout[r * C + col];
      aw += dy * (inp[r * C + col] - mean[r]) * rstd[r];
      ab += dy;
    }
  }
  sw[ty][tx] = aw;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && col < C) {
    for (int k = 1; k < 8; k++) {
      aw += sw[k][tx];
      ab += sb[k][tx];
    }
    if (gridDim.y == 1) {
      if (dweight != nullptr) dweight[col] += aw;
      if (dbias != nullptr) dbias[col] += ab;
    } else {
      partial[(blockIdx.y * 2) * C + col] = aw;
      partial[(blockIdx.y * 2 + 1) * C + col] = ab;
    }
  }
}

__global__ void layernorm_backward_params_finish_kernel(float *dweight, float *dbias,
                                                        const float *partial, int64_t C, int slices) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= C) return;
  float aw = 0.0f, ab = 0.0f;
  for (int s = 0; s < slices; s++) {
    aw += partial[(s * 2) * C + col];
    ab += partial[(s * 2 + 1) * C + col];
  }
  if (dweight != nullptr) dweight[col] += aw;
  if (dbias != nullptr) dbias[col] += ab;
}

void launch_forward(CudaContext &ctx, float *out, float *mean, float *rstd, float *residual_out,
                    const float *a, const float *b, const float *weight, const float *bias,
                    int64_t N, int64_t C, float eps, const char *name) {
  const int64_t blocks = (N + kWarps - 1) / kWarps;
  layernorm_forward_kernel<<<static_cast<unsigned>(blocks), kWarps * 32, 0, stream_of(ctx)>>>(
      out, mean, rstd, residual_out, a, b, weight, bias, N, C, eps);
  check_launch(ctx, name);
}

}  // namespace

void layernorm_forward(CudaContext &ctx, float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int64_t N, int64_t C, float eps) {
  if (N == 0 || C == 0) return;
  activate(ctx);
  launch_forward(ctx, out, mean, rstd, nullptr, inp, nullptr, weight, bias, N, C, eps,
                 "fl_layernorm_forward/layernorm_forward_kernel");
}

void residual_layernorm_forward(CudaContext &ctx, float *residual_out, float *out, float *mean,
                                float *rstd, const float *a, const float *b, const float *weight,
                                const float *bias, int64_t N, int64_t C, float eps) {
  if (N == 0 || C == 0) return;
  activate(ctx);
  launch_forward(ctx, out, mean, rstd, residual_out, a, b, weight, bias, N, C, eps,
                 "fl_residual_layernorm_forward/layernorm_forward_kernel");
}

void layernorm_backward(CudaContext &ctx, float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        const float *mean, const float *rstd, int64_t N, int64_t C) {
  if (N == 0 || C == 0) return;
  activate(ctx);
  if (dinp != nullptr) {
    const int64_t blocks = (N + kWarps - 1) / kWarps;
    layernorm_backward_dinp_kernel<<<static_cast<unsigned>(blocks), kWarps * 32, 0, stream_of(ctx)>>>(
        dinp, dout, inp, weight, mean, rstd, N, C);
    check_launch(ctx, "fl_layernorm_backward/layernorm_backward_dinp_kernel");
  }
  if (dweight == nullptr && dbias == nullptr) return;
  // enough slices of rows to give every SM a few blocks, each slice at least 64 rows
  const int64_t col_blocks = (C + 31) / 32;
  int64_t slices = (4LL * ctx.sm_count + col_blocks - 1) / col_blocks;
  const int64_t max_slices = (N + 63) / 64;
  if (slices > max_slices) slices = max_slices;
  if (slices > 1024) slices = 1024;
  if (slices < 1) slices = 1;
  const int64_t rows_per_slice = (N + slices - 1) / slices;
  slices = (N + rows_per_slice - 1) / rows_per_slice;
  float *partial = slices > 1 ? static_cast<float *>(scratch(ctx, slices * 2 * C * 4)) : nullptr;
  dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(slices));
  layernorm_backward_params_kernel<<<grid, dim3(32, 8), 0, stream_of(ctx)>>>(
      partial, dweight, dbias, dout, inp, mean, rstd, N, C, rows_per_slice);
  check_launch(ctx, "fl_layernorm_backward/layernorm_backward_params_kernel");
  if (slices > 1) {
    layernorm_backward_params_finish_kernel<<<blocks_for(C, 256), 256, 0, stream_of(ctx)>>>(
        dweight, dbias, partial, C, static_cast<int>(slices));
    check_launch(ctx, "fl_layernorm_backward/layernorm_backward_params_finish_kernel");
  }
}

}  // namespace cuda
}  // namespace fl
