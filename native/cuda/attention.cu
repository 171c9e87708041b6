// Multi-head attention on packed qkv (B, T, 3C): flash-attention style forward, backward, and the
// decode-time forward over a KV cache. The (T, T) score matrix is never stored.
//
// Layout of the work (fp32 SIMT; the head size hs is padded to D in {64, 128, 256} in shared memory):
//   forward   block = (32 queries, head, batch); 8 warps x 4 query rows each. Key/value tiles of 32
//             rows are streamed through shared memory; lane j of a warp scores key j against the
//             warp's 4 rows (Q rows are broadcast reads, K rows padded to D + 1 floats so the 32 lanes
//             hit 32 banks), then an online softmax (running max m, per-lane running sum l, rescale
//             of the output accumulators) and P V, with lane d owning output columns d, d + 32, ...
//             Scores are kept in the log2 domain (Q pre-multiplied by scale * log2 e, exp2f).
//             lse = (m + log2 l) ln 2 is saved for the backward; a row that sees no key writes zeros
//             and lse = -inf, as the reference.
//   backward  FlashAttention-2's recomputation, split into two kernels so that every gradient element
//             has exactly one writer (no atomics, deterministic):
//             rowdot  D_i = sum_d dO_i O_i                         (one warp per row and head)
//             dq      block of 32 queries streams key tiles: P = exp(S - lse), dS = P (dP - D),
//                     dq = scale dS K                              (the forward's layout)
//             dkdv    block of 32 keys streams query tiles: dv = P^T dO, dk = scale dS^T Q
//             S and P are recomputed in both; the price of determinism is one extra QK^T.
//   cached    the forward kernel with queries at positions T - Tq .. T - 1 of a cache of Tmax rows.
//
// Dropout (p > 0, attention_dropout.h): the forward adds the undropped p into l and multiplies the P
// it feeds to P V by Z (0 or 1 / (1 - p)); dq uses dS = P (Z dP - D), dkdv dv = (P Z)^T dO and the
// same dS. Z is recomputed per element from (seed, b, h, i, j), as on every other backend.
//
// Causal tiles beyond the diagonal are skipped (the forward and dq stop at the tile's last query, dkdv
// starts at the block's first key). Head sizes above 256 are rejected (FL_ERR_UNSUPPORTED).
// Not done: tensor-core (TF32/bf16 mma) attention, split-K decode for Tq = 1 (the cached forward uses
// one block per (batch, head), 1/32 of its rows busy).
#include <algorithm>

#include "attention_dropout.h"
#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

constexpr int kWarps = 8;             // warps per block
constexpr int kRows = 4;              // query (or key) rows per warp
constexpr int kTile = 32;             // rows per tile: kWarps * kRows, and one key per lane
constexpr int kThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
static_assert(kWarps * kRows == kTile, "a block's rows are one tile");

struct AttnArgs {
  const float *qkv;
  float *out;           // forward: (B, Tq, C); backward: unused
  float *lse;           // (B, NH, Tq), may be null in the forward
  const int32_t *key_mask;  // (B, Tk) or null
  const float *dout;    // backward
  const float *rowdot;  // backward: D (B, NH, T)
  float *dqkv;          // backward
  int64_t Tk;           // keys 0 .. Tk - 1
  int64_t Tq;           // query rows
  int64_t q_off;        // position of query row 0 (T - Tq for the cache, else 0)
  int64_t batch_rows;   // qkv rows per batch (T, or Tmax for the cache)
  int64_t C;
  int NH;
  int hs;
  float scale;          // 1 / sqrt(hs)
  int causal;
  int dropout;          // p > 0: the fields below are used
  float keep_scale;     // 1 / (1 - p)
  uint32_t drop_threshold;
  uint64_t drop_key;
};

// Z of (head bh, query i, key j): 1 without dropout, else 0 or 1 / (1 - p).
__device__ __forceinline__ float dropout_factor(const AttnArgs &a, int64_t bh, int64_t i, int64_t j) {
  return dropout_keep(a.drop_key, bh, a.Tk, i, j, a.drop_threshold) ? a.keep_scale : 0.0f;
}

__device__ __forceinline__ float comp(const float4 &v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// dst[r * LD + d] = rows row0 + r of src (stride C3) for r < 32, zero beyond nrows or hs; times mul.
template <int D, int LD>
__device__ __forceinline__ void load_tile(float *dst, const float *src, int64_t row0, int64_t nrows,
                                          int64_t C3, int hs, float mul) {
  for (int idx = threadIdx.x; idx < kTile * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    float v = 0.0f;
    if (row0 + r < nrows && d < hs) v = src[(row0 + r) * C3 + d] * mul;
    dst[r * LD + d] = v;
  }
}

// sum_d a[d] b[d] over D for kRows broadcast rows a (stride D, 16-byte aligned) against one
// lane-private row b (padded stride, scalar reads).
template <int D>
__device__ __forceinline__ void dot_rows(float (&acc)[kRows], const float *a, const float *b) {
#pragma unroll
  for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
#pragma unroll 4
  for (int d = 0; d < D; d += 4) {
    const float b0 = b[d], b1 = b[d + 1], b2 = b[d + 2], b3 = b[d + 3];
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      const float4 q = *reinterpret_cast<const float4 *>(a + r * D + d);
      acc[r] = fmaf(q.x, b0, fmaf(q.y, b1, fmaf(q.z, b2, fmaf(q.w, b3, acc[r]))));
    }
  }
}

// acc[r][dd] += sum_j w[r][j] * rows[j][lane + 32 dd], w rows of 32 in shared memory (stride 32).
template <int D>
__device__ __forceinline__ void accumulate_rows(float (&acc)[kRows][D / 32], const float *w,
                                                const float *rows, int lane) {
#pragma unroll 2
  for (int j = 0; j < kTile; j += 4) {
    float4 wv[kRows];
#pragma unroll
    for (int r = 0; r < kRows; r++) wv[r] = *reinterpret_cast<const float4 *>(w + r * kTile + j);
#pragma unroll
    for (int jj = 0; jj < 4; jj++) {
#pragma unroll
      for (int dd = 0; dd < D / 32; dd++) {
        const float x = rows[(j + jj) * (D + 1) + lane + 32 * dd];
#pragma unroll
        for (int r = 0; r < kRows; r++) acc[r][dd] = fmaf(comp(wv[r], jj), x, acc[r][dd]);
      }
    }
  }
}

template <int D>
constexpr int forward_smem_floats() {
  return kTile * D + 2 * kTile * (D + 1) + kWarps * kRows * kTile + kTile;
}

template <int D>
__global__ void __launch_bounds__(kThreads) attention_forward_kernel(AttnArgs a) {
  extern __shared__ float4 smem4[];
  float *Qs = reinterpret_cast<float *>(smem4);  // [32][D], scaled into the log2 domain
  float *Ks = Qs + kTile * D;                    // [32][D + 1]
  float *Vs = Ks + kTile * (D + 1);              // [32][D + 1]
  float *Ps = Vs + kTile * (D + 1);              // [kWarps][kRows][32]
  int *kvalid = reinterpret_cast<int *>(Ps + kWarps * kRows * kTile);  // [32]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int b = blockIdx.z, h = blockIdx.y;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t C3 = 3 * a.C;
  const float *base = a.qkv + static_cast<int64_t>(b) * a.batch_rows * C3 + static_cast<int64_t>(h) * a.hs;

  load_tile<D, D>(Qs, base + a.q_off * C3, q0, a.Tq, C3, a.hs, a.scale * kLog2e);
  const int64_t q_last = std::min(q0 + kTile, a.Tq) - 1;
  const int64_t n_keys = a.causal ? std::min(a.Tk, a.q_off + q_last + 1) : a.Tk;
  const int row0 = warp * kRows;
  float *Pw = Ps + row0 * kTile;

  float o[kRows][D / 32], m[kRows], l[kRows];
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int dd = 0; dd < D / 32; dd++) o[r][dd] = 0.0f;
  }

  for (int64_t k0 = 0; k0 < n_keys; k0 += kTile) {
    __syncthreads();  // the previous tile is no longer read
    load_tile<D, D + 1>(Ks, base + a.C, k0, a.Tk, C3, a.hs, 1.0f);
    load_tile<D, D + 1>(Vs, base + 2 * a.C, k0, a.Tk, C3, a.hs, 1.0f);
    if (tid < kTile) {
      const int64_t kj = k0 + tid;
      kvalid[tid] = kj < a.Tk && (a.key_mask == nullptr || a.key_mask[static_cast<int64_t>(b) * a.Tk + kj] != 0);
    }
    __syncthreads();

    float s[kRows];
    dot_rows<D>(s, Qs + row0 * D, Ks + lane * (D + 1));
    const int64_t kj = k0 + lane;
    const bool key_ok = kvalid[lane] != 0;
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      const int64_t qpos = a.q_off + q0 + row0 + r;
      const float sr = key_ok && (!a.causal || kj <= qpos) ? s[r] : -INFINITY;
      const float mn = fmaxf(m[r], warp_max(sr));
      float p = 0.0f, alpha = 1.0f;
      if (mn != -INFINITY) {
        p = exp2f(sr - mn);
        alpha = exp2f(m[r] - mn);
      }
      m[r] = mn;
      l[r] = l[r] * alpha + p;  // per-lane partial sum; lanes are added at the end
#pragma unroll
      for (int dd = 0; dd < D / 32; dd++) o[r][dd] *= alpha;
      // dropout after the sum: l is of the undropped softmax (only the training forward, q_off = 0)
      if (a.dropout && p != 0.0f)
        p *= dropout_factor(a, static_cast<int64_t>(b) * a.NH + h, q0 + row0 + r, kj);
      Pw[r * kTile + lane] = p;
    }
    __syncwarp();
    accumulate_rows<D>(o, Pw, Vs, lane);
    __syncwarp();
  }

#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const float lt = warp_sum(l[r]);
    const int64_t qi = q0 + row0 + r;
    if (qi >= a.Tq) continue;
    const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
    float *y = a.out + (static_cast<int64_t>(b) * a.Tq + qi) * a.C + static_cast<int64_t>(h) * a.hs;
#pragma unroll
    for (int dd = 0; dd < D / 32; dd++) {
      const int d = lane + 32 * dd;
      if (d < a.hs) y[d] = o[r][dd] * inv;
    }
    if (a.lse != nullptr && lane == 0)
      a.lse[(static_cast<int64_t>(b) * a.NH + h) * a.Tq + qi] = lt > 0.0f ? (m[r] + log2f(lt)) * kLn2 : -INFINITY;
  }
}

// D_i = sum_d dO_i O_i per (row, head), one warp each.
__global__ void attention_rowdot_kernel(float *rowdot, const float *dout, const float *out, int64_t B,
                                        int64_t T, int64_t C, int NH, int hs) {
  const int lane = threadIdx.x & 31;
  const int64_t w = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (w >= B * T * NH) return;
  const int64_t bt = w / NH;
  const int h = static_cast<int>(w % NH);
  const float *dy = dout + bt * C + static_cast<int64_t>(h) * hs;
  const float *y = out + bt * C + static_cast<int64_t>(h) * hs;
  float s = 0.0f;
  for (int d = lane; d < hs; d += 32) s += dy[d] * y[d];
  s = warp_sum(s);
  if (lane == 0) rowdot[((bt / T) * NH + h) * T + bt % T] = s;
}

template <int D>
constexpr int dq_smem_floats() {
  return 2 * kTile * D + 2 * kTile * (D + 1) + kWarps * kRows * kTile + kTile;
}

template <int D>
__global__ void __launch_bounds__(kThreads) attention_backward_dq_kernel(AttnArgs a) {
  extern __shared__ float4 smem4[];
  float *Qs = reinterpret_cast<float *>(smem4);  // [32][D], scaled into the log2 domain
  float *dOs = Qs + kTile * D;                   // [32][D]
  float *Ks = dOs + kTile * D;                   // [32][D + 1]
  float *Vs = Ks + kTile * (D + 1);              // [32][D + 1]
  float *DSs = Vs + kTile * (D + 1);             // [kWarps][kRows][32]
  int *kvalid = reinterpret_cast<int *>(DSs + kWarps * kRows * kTile);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int b = blockIdx.z, h = blockIdx.y;
  const int64_t T = a.Tk;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t C3 = 3 * a.C;
  const float *base = a.qkv + static_cast<int64_t>(b) * T * C3 + static_cast<int64_t>(h) * a.hs;
  const int64_t bh = static_cast<int64_t>(b) * a.NH + h;

  load_tile<D, D>(Qs, base, q0, T, C3, a.hs, a.scale * kLog2e);
  load_tile<D, D>(dOs, a.dout + static_cast<int64_t>(b) * T * a.C + static_cast<int64_t>(h) * a.hs, q0, T,
                  a.C, a.hs, 1.0f);
  const int row0 = warp * kRows;
  float lse2[kRows], Dr[kRows], dq[kRows][D / 32];
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const int64_t qi = q0 + row0 + r;
    lse2[r] = qi < T ? a.lse[bh * T + qi] * kLog2e : -INFINITY;
    Dr[r] = qi < T ? a.rowdot[bh * T + qi] : 0.0f;
#pragma unroll
    for (int dd = 0; dd < D / 32; dd++) dq[r][dd] = 0.0f;
  }
  const int64_t q_last = std::min(q0 + kTile, T) - 1;
  const int64_t n_keys = a.causal ? q_last + 1 : T;
  float *DSw = DSs + row0 * kTile;

  for (int64_t k0 = 0; k0 < n_keys; k0 += kTile) {
    __syncthreads();
    load_tile<D, D + 1>(Ks, base + a.C, k0, T, C3, a.hs, 1.0f);
    load_tile<D, D + 1>(Vs, base + 2 * a.C, k0, T, C3, a.hs, 1.0f);
    if (tid < kTile) {
      const int64_t kj = k0 + tid;
      kvalid[tid] = kj < T && (a.key_mask == nullptr || a.key_mask[static_cast<int64_t>(b) * T + kj] != 0);
    }
    __syncthreads();

    float s[kRows], dp[kRows];
    dot_rows<D>(s, Qs + row0 * D, Ks + lane * (D + 1));
    dot_rows<D>(dp, dOs + row0 * D, Vs + lane * (D + 1));
    const int64_t kj = k0 + lane;
    const bool key_ok = kvalid[lane] != 0;
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      const int64_t qi = q0 + row0 + r;
      const bool vis = key_ok && lse2[r] != -INFINITY && (!a.causal || kj <= qi);
      const float p = vis ? exp2f(s[r] - lse2[r]) : 0.0f;
      const float z = a.dropout && vis ? dropout_factor(a, bh, qi, kj) : 1.0f;
      DSw[r * kTile + lane] = a.dropout ? p * (z * dp[r] - Dr[r]) : p * (dp[r] - Dr[r]);
    }
    __syncwarp();
    accumulate_rows<D>(dq, DSw, Ks, lane);
    __syncwarp();
  }

#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const int64_t qi = q0 + row0 + r;
    if (qi >= T) continue;
    float *g = a.dqkv + (static_cast<int64_t>(b) * T + qi) * C3 + static_cast<int64_t>(h) * a.hs;
#pragma unroll
    for (int dd = 0; dd < D / 32; dd++) {
      const int d = lane + 32 * dd;
      if (d < a.hs) g[d] += dq[r][dd] * a.scale;
    }
  }
}

template <int D>
constexpr int dkdv_smem_floats() {
  return 2 * kTile * D + 2 * kTile * (D + 1) + 2 * kWarps * kRows * kTile + 2 * kTile;
}

template <int D>
__global__ void __launch_bounds__(kThreads) attention_backward_dkdv_kernel(AttnArgs a) {
  extern __shared__ float4 smem4[];
  float *Ks = reinterpret_cast<float *>(smem4);  // [32][D] this block's keys, scaled into log2 domain
  float *Vs = Ks + kTile * D;                    // [32][D] this block's values
  float *Qs = Vs + kTile * D;                    // [32][D + 1] query tile
  float *dOs = Qs + kTile * (D + 1);             // [32][D + 1]
  float *Ps = dOs + kTile * (D + 1);             // [kWarps][kRows][32]
  float *DSs = Ps + kWarps * kRows * kTile;      // [kWarps][kRows][32]
  float *lse2s = DSs + kWarps * kRows * kTile;   // [32]
  float *Ds = lse2s + kTile;                     // [32]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int b = blockIdx.z, h = blockIdx.y;
  const int64_t T = a.Tk;
  const int64_t k0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t C3 = 3 * a.C;
  const float *base = a.qkv + static_cast<int64_t>(b) * T * C3 + static_cast<int64_t>(h) * a.hs;
  const float *dbase = a.dout + static_cast<int64_t>(b) * T * a.C + static_cast<int64_t>(h) * a.hs;
  const int64_t bh = static_cast<int64_t>(b) * a.NH + h;

  load_tile<D, D>(Ks, base + a.C, k0, T, C3, a.hs, a.scale * kLog2e);
  load_tile<D, D>(Vs, base + 2 * a.C, k0, T, C3, a.hs, 1.0f);
  const int row0 = warp * kRows;
  bool key_ok[kRows];
  float dk[kRows][D / 32], dv[kRows][D / 32];
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const int64_t kr = k0 + row0 + r;
    key_ok[r] = kr < T && (a.key_mask == nullptr || a.key_mask[static_cast<int64_t>(b) * T + kr] != 0);
#pragma unroll
    for (int dd = 0; dd < D / 32; dd++) dk[r][dd] = dv[r][dd] = 0.0f;
  }
  float *Pw = Ps + row0 * kTile;
  float *DSw = DSs + row0 * kTile;

  for (int64_t i0 = a.causal ? k0 : 0; i0 < T; i0 += kTile) {
    __syncthreads();
    load_tile<D, D + 1>(Qs, base, i0, T, C3, a.hs, 1.0f);
    load_tile<D, D + 1>(dOs, dbase, i0, T, a.C, a.hs, 1.0f);
    if (tid < kTile) {
      const int64_t qi = i0 + tid;
      lse2s[tid] = qi < T ? a.lse[bh * T + qi] * kLog2e : -INFINITY;
      Ds[tid] = qi < T ? a.rowdot[bh * T + qi] : 0.0f;
    }
    __syncthreads();

    float s[kRows], dp[kRows];
    dot_rows<D>(s, Ks + row0 * D, Qs + lane * (D + 1));
    dot_rows<D>(dp, Vs + row0 * D, dOs + lane * (D + 1));
    const int64_t qi = i0 + lane;
    const float l2 = lse2s[lane], Di = Ds[lane];
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      const int64_t kr = k0 + row0 + r;
      const bool vis = key_ok[r] && l2 != -INFINITY && (!a.causal || kr <= qi);
      const float p = vis ? exp2f(s[r] - l2) : 0.0f;
      if (a.dropout) {
        const float z = vis ? dropout_factor(a, bh, qi, kr) : 0.0f;
        Pw[r * kTile + lane] = p * z;
        DSw[r * kTile + lane] = p * (z * dp[r] - Di);
      } else {
        Pw[r * kTile + lane] = p;
        DSw[r * kTile + lane] = p * (dp[r] - Di);
      }
    }
    __syncwarp();
    accumulate_rows<D>(dv, Pw, dOs, lane);
    accumulate_rows<D>(dk, DSw, Qs, lane);
    __syncwarp();
  }

#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const int64_t kr = k0 + row0 + r;
    if (kr >= T) continue;
    float *g = a.dqkv + (static_cast<int64_t>(b) * T + kr) * C3 + static_cast<int64_t>(h) * a.hs;
#pragma unroll
    for (int dd = 0; dd < D / 32; dd++) {
      const int d = lane + 32 * dd;
      if (d < a.hs) {
        g[a.C + d] += dk[r][dd] * a.scale;
        g[2 * a.C + d] += dv[r][dd];
      }
    }
  }
}

// ---- launchers -----------------------------------------------------------------------------

// The padded head size for hs; 0 when hs is too large.
inline int padded_head(int64_t hs) {
  if (hs <= 64) return 64;
  if (hs <= 128) return 128;
  if (hs <= 256) return 256;
  return 0;
}

template <typename Kernel>
void launch(CudaContext &ctx, Kernel kernel, dim3 grid, int smem_floats, const AttnArgs &args,
            const char *name) {
  const size_t bytes = static_cast<size_t>(smem_floats) * sizeof(float);
  if (bytes > 48 * 1024) {
    cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(bytes));
    if (err != cudaSuccess) {
      cudaGetLastError();
      throw Error(FL_ERR_UNSUPPORTED, std::string(name) + ": needs " + std::to_string(bytes) +
                                          " bytes of shared memory per block, which this device "
                                          "does not grant: " + cudaGetErrorString(err));
    }
  }
  kernel<<<grid, kThreads, bytes, stream_of(ctx)>>>(args);
  check_launch(ctx, name);
}

void check_grid(int64_t B, int64_t NH, int64_t hs, const char *op) {
  if (B > 65535 || NH > 65535)
    throw Error(FL_ERR_UNSUPPORTED, std::string(op) + ": B and NH must be at most 65535 on CUDA");
  if (padded_head(hs) == 0)
    throw Error(FL_ERR_UNSUPPORTED, std::string(op) + ": head size " + std::to_string(hs) +
                                        " is above 256, the largest the CUDA kernels take");
}

void run_forward(CudaContext &ctx, const AttnArgs &args, int64_t B, const char *name) {
  const dim3 grid(static_cast<unsigned>((args.Tq + kTile - 1) / kTile), static_cast<unsigned>(args.NH),
                  static_cast<unsigned>(B));
  switch (padded_head(args.hs)) {
    case 64: launch(ctx, attention_forward_kernel<64>, grid, forward_smem_floats<64>(), args, name); break;
    case 128: launch(ctx, attention_forward_kernel<128>, grid, forward_smem_floats<128>(), args, name); break;
    default: launch(ctx, attention_forward_kernel<256>, grid, forward_smem_floats<256>(), args, name); break;
  }
}

void set_dropout(AttnArgs &args, float p, uint64_t seed) {
  args.dropout = p > 0.0f;
  args.keep_scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p)));
  args.drop_threshold = dropout_threshold(p);
  args.drop_key = dropout_key(seed);
}

}  // namespace

void attention_forward(CudaContext &ctx, float *out, float *lse, const float *qkv,
                       const int32_t *key_mask, int64_t B, int64_t T, int64_t C, int64_t NH,
                       int causal, float dropout_p, uint64_t dropout_seed) {
  if (B == 0 || T == 0) return;
  const int64_t hs = C / NH;
  check_grid(B, NH, hs, "fl_attention_forward");
  activate(ctx);
  AttnArgs args{};
  args.qkv = qkv;
  args.out = out;
  args.lse = lse;
  args.key_mask = key_mask;
  args.Tk = T;
  args.Tq = T;
  args.q_off = 0;
  args.batch_rows = T;
  args.C = C;
  args.NH = static_cast<int>(NH);
  args.hs = static_cast<int>(hs);
  args.scale = hs > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(hs))) : 1.0f;
  args.causal = causal != 0;
  set_dropout(args, dropout_p, dropout_seed);
  run_forward(ctx, args, B, "fl_attention_forward/attention_forward_kernel");
}

void attention_forward_cached(CudaContext &ctx, float *out, const float *qkv_cache, int64_t B,
                              int64_t T, int64_t Tmax, int64_t Tq, int64_t C, int64_t NH) {
  if (B == 0 || Tq == 0 || C == 0) return;
  const int64_t hs = C / NH;
  check_grid(B, NH, hs, "fl_attention_forward_cached");
  activate(ctx);
  AttnArgs args{};
  args.qkv = qkv_cache;
  args.out = out;
  args.lse = nullptr;
  args.key_mask = nullptr;
  args.Tk = T;
  args.Tq = Tq;
  args.q_off = T - Tq;
  args.batch_rows = Tmax;
  args.C = C;
  args.NH = static_cast<int>(NH);
  args.hs = static_cast<int>(hs);
  args.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hs)));
  args.causal = 1;
  run_forward(ctx, args, B, "fl_attention_forward_cached/attention_forward_kernel");
}

void attention_backward(CudaContext &ctx, float *dqkv, const float *dout, const float *qkv,
                        const float *out, const float *lse, const int32_t *key_mask, int64_t B,
                        int64_t T, int64_t C, int64_t NH, int causal, float dropout_p,
                        uint64_t dropout_seed) {
  if (dqkv == nullptr || B == 0 || T == 0 || C == 0) return;
  const int64_t hs = C / NH;
  check_grid(B, NH, hs, "fl_attention_backward");
  activate(ctx);
  float *rowdot = static_cast<float *>(scratch(ctx, B * NH * T * 4));
  {
    const int64_t warps = B * T * NH;
    const int threads = 256;
    const int64_t blocks = (warps + threads / 32 - 1) / (threads / 32);
    attention_rowdot_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream_of(ctx)>>>(
        rowdot, dout, out, B, T, C, static_cast<int>(NH), static_cast<int>(hs));
    check_launch(ctx, "fl_attention_backward/attention_rowdot_kernel");
  }
  AttnArgs args{};
  args.qkv = qkv;
  args.lse = const_cast<float *>(lse);
  args.key_mask = key_mask;
  args.dout = dout;
  args.rowdot = rowdot;
  args.dqkv = dqkv;
  args.Tk = T;
  args.Tq = T;
  args.q_off = 0;
  args.batch_rows = T;
  args.C = C;
  args.NH = static_cast<int>(NH);
  args.hs = static_cast<int>(hs);
  args.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hs)));
  args.causal = causal != 0;
  set_dropout(args, dropout_p, dropout_seed);
  const dim3 grid(static_cast<unsigned>((T + kTile - 1) / kTile), static_cast<unsigned>(NH),
                  static_cast<unsigned>(B));
  const char *dq_name = "fl_attention_backward/attention_backward_dq_kernel";
  const char *dkdv_name = "fl_attention_backward/attention_backward_dkdv_kernel";
  switch (padded_head(hs)) {
    case 64:
      launch(ctx, attention_backward_dq_kernel<64>, grid, dq_smem_floats<64>(), args, dq_name);
      launch(ctx, attention_backward_dkdv_kernel<64>, grid, dkdv_smem_floats<64>(), args, dkdv_name);
      break;
    case 128:
      launch(ctx, attention_backward_dq_kernel<128>, grid, dq_smem_floats<128>(), args, dq_name);
      launch(ctx, attention_backward_dkdv_kernel<128>, grid, dkdv_smem_floats<128>(), args, dkdv_name);
      break;
    default:
      launch(ctx, attention_backward_dq_kernel<256>, grid, dq_smem_floats<256>(), args, dq_name);
      launch(ctx, attention_backward_dkdv_kernel<256>, grid, dkdv_smem_floats<256>(), args, dkdv_name);
      break;
  }
}

}  // namespace cuda
}  // namespace fl
