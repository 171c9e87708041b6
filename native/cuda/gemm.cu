// GEMM: C(M,N) = alpha op(A) op(B) + beta C (+ bias), row-major, any transposes and leading
// dimensions; and the linear layer's bias gradient. No cuBLAS.
//
// Two hand-written paths, one tile loader:
//   fp32 SIMT (default)  block tile 128x128x8 (or 64x64x8 when the 128 tiles would leave SMs idle),
//                        256 threads, each with an 8x8 (4x4) register tile split into 4x4 quadrants
//                        so the float4 shared-memory reads of a warp broadcast or are contiguous.
//   TF32 tensor cores    block tile 128x128x16, 8 warps of 64x32, mma.sync.m16n8k8 (sm_80+), operands
//                        rounded to TF32 (cvt.rna) when read from shared memory, fp32 accumulation.
//                        Opt in with FUSELM_CUDA_TF32=1 (read at context creation): TF32 keeps 10
//                        mantissa bits, so results differ from fp32 by ~1e-3 relative, outside the
//                        fp32 conformance tolerance; the tests check it with its own tolerance.
// Both stage tiles in shared memory k-major (As[k][m], Bs[k][n], rows padded) with double buffering:
// the next tile is loaded from global memory into registers while the current one is multiplied,
// then stored to the other buffer; one __syncthreads per k-tile. The loader maps consecutive threads
// to the contiguous dimension of each operand (k for A, n for B, or the other way when transposed),
// bounds-checks every element (awkward M, N, K need no padding) and uses scalar loads, so any lda is
// accepted. The epilogue applies alpha, beta (C not read when beta == 0) and the bias.
//
// sgemm_bf16w (bf16 weights for generation): the same kernels, B read as bf16 (uint16_t) and widened
// exactly (a 16-bit shift) by the tile loader, so the products and sums are those of the fp32 path
// on the widened B (under TF32, bf16's 8 significant bits are kept exactly; A is rounded as usual).
//
// bias_backward: dbias(N) += column sums of dout(M,N), deterministic: blocks of 32 columns x a slice
// of rows write partial sums, a second kernel adds the slices in order.
//
// Not done (perf): 16-byte vectorised global loads when lda/ldb allow, cp.async pipelines, a GELU
// epilogue (no op in fuselm.h asks for it yet), split-K for small M*N with large K, a GEMV kernel for
// M = 1 (generation: the tiled kernels leave most of a 64 x 64 tile idle there), bf16 A operands.
#include <cstdint>

#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

struct GemmArgs {
  const float *A;
  const float *B;
  float *C;
  const float *bias;
  int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
  int trans_a, trans_b;
  const uint16_t *B16;  // non-null: B is bf16 (fl_sgemm_bf16w) and g.B is unused
};

__device__ __forceinline__ float widen_bf16(uint16_t h) {
  return __uint_as_float(static_cast<unsigned>(h) << 16);
}

// Loads the (BK x BM) slice of op(A) at (m0, k0) and the (BK x BN) slice of op(B) at (k0, n0) into
// registers; stores them k-major into shared memory.
template <int BM, int BN, int BK, int NT>
struct TileLoader {
  static constexpr int kA = BM * BK / NT;
  static constexpr int kB = BN * BK / NT;
  static_assert(BM * BK % NT == 0 && BN * BK % NT == 0, "tile elements must split evenly");
  float a[kA], b[kB];

  __device__ __forceinline__ void load(const GemmArgs &g, int64_t m0, int64_t n0, int64_t k0) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < kA; i++) {
      const int e = tid + i * NT;
      int m, k;
      if (g.trans_a) { m = e % BM; k = e / BM; } else { k = e % BK; m = e / BK; }
      const int64_t gm = m0 + m, gk = k0 + k;
      float v = 0.0f;
      if (gm < g.M && gk < g.K) v = g.trans_a ? g.A[gk * g.lda + gm] : g.A[gm * g.lda + gk];
      a[i] = v;
    }
#pragma unroll
    for (int i = 0; i < kB; i++) {
      const int e = tid + i * NT;
      int n, k;
      if (g.trans_b) { k = e % BK; n = e / BK; } else { n = e % BN; k = e / BN; }
      const int64_t gn = n0 + n, gk = k0 + k;
      float v = 0.0f;
      if (gn < g.N && gk < g.K) {
        const int64_t at = g.trans_b ? gn * g.ldb + gk : gk * g.ldb + gn;
        v = g.B16 != nullptr ? widen_bf16(g.B16[at]) : g.B[at];
      }
      b[i] = v;
    }
  }

  template <int LDA, int LDB>
  __device__ __forceinline__ void store(const GemmArgs &g, float *As, float *Bs) const {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < kA; i++) {
      const int e = tid + i * NT;
      int m, k;
      if (g.trans_a) { m = e % BM; k = e / BM; } else { k = e % BK; m = e / BK; }
      As[k * LDA + m] = a[i];
    }
#pragma unroll
    for (int i = 0; i < kB; i++) {
      const int e = tid + i * NT;
      int n, k;
      if (g.trans_b) { k = e % BK; n = e / BK; } else { n = e % BN; k = e / BN; }
      Bs[k * LDB + n] = b[i];
    }
  }
};

__device__ __forceinline__ void store_out(const GemmArgs &g, int64_t m, int64_t n, float acc) {
  if (m >= g.M || n >= g.N) return;
  float v = g.alpha * acc;
  float *c = g.C + m * g.ldc + n;
  if (g.beta != 0.0f) v += g.beta * *c;
  if (g.bias != nullptr) v += g.bias[n];
  *c = v;
}

// ---- fp32 SIMT --------------------------------------------------------------------------------

// Two blocks per SM (at most 128 registers a thread) keep the SM busy during a block's
// __syncthreads; the 8x8 accumulators fit without spilling.
template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), 2)
sgemm_simt_kernel(GemmArgs g) {
  constexpr int NT = (BM / TM) * (BN / TN);
  constexpr int LDA = BM + 4, LDB = BN + 4;  // +4 keeps rows 16-byte aligned for float4 reads
  constexpr int GM = TM / 4, GN = TN / 4;    // quadrants of 4 rows / 4 columns per thread
  constexpr int SM_ = BM / GM, SN_ = BN / GN;
  __shared__ __align__(16) float As[2][BK * LDA];
  __shared__ __align__(16) float Bs[2][BK * LDB];

  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM, n0 = static_cast<int64_t>(blockIdx.x) * BN;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;

  TileLoader<BM, BN, BK, NT> tiles;
  const int64_t ktiles = (g.K + BK - 1) / BK;
  if (ktiles > 0) {
    tiles.load(g, m0, n0, 0);
    tiles.template store<LDA, LDB>(g, As[0], Bs[0]);
  }
  __syncthreads();
  for (int64_t kt = 0; kt < ktiles; kt++) {
    const int cur = static_cast<int>(kt & 1);
    if (kt + 1 < ktiles) tiles.load(g, m0, n0, (kt + 1) * BK);
    const float *as = As[cur];
    const float *bs = Bs[cur];
#pragma unroll
    for (int k = 0; k < BK; k++) {
      float a[TM], b[TN];
#pragma unroll
      for (int q = 0; q < GM; q++) {
        const float4 v = *reinterpret_cast<const float4 *>(as + k * LDA + q * SM_ + ty * 4);
        a[q * 4 + 0] = v.x; a[q * 4 + 1] = v.y; a[q * 4 + 2] = v.z; a[q * 4 + 3] = v.w;
      }
#pragma unroll
      for (int q = 0; q < GN; q++) {
        const float4 v = *reinterpret_cast<const float4 *>(bs + k * LDB + q * SN_ + tx * 4);
        b[q * 4 + 0] = v.x; b[q * 4 + 1] = v.y; b[q * 4 + 2] = v.z; b[q * 4 + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (kt + 1 < ktiles) tiles.template store<LDA, LDB>(g, As[cur ^ 1], Bs[cur ^ 1]);
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; i++) {
    const int64_t m = m0 + (i / 4) * SM_ + ty * 4 + (i % 4);
#pragma unroll
    for (int j = 0; j < TN; j++) {
      const int64_t n = n0 + (j / 4) * SN_ + tx * 4 + (j % 4);
      store_out(g, m, n, acc[i][j]);
    }
  }
}

// ---- TF32 tensor cores (sm_80+) ---------------------------------------------------------------

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

// D = A (16x8, row) * B (8x8, col) + D, TF32 inputs, fp32 accumulators.
__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

constexpr int kTcBM = 128, kTcBN = 128, kTcBK = 16, kTcThreads = 256;
constexpr int kTcWM = 64, kTcWN = 32;  // warp tile: 2 x 4 warps
constexpr int kTcMI = kTcWM / 16, kTcNI = kTcWN / 8;

__global__ void __launch_bounds__(kTcThreads, 2) sgemm_tf32_kernel(GemmArgs g) {
  // pad 8: fragment reads (rows k = t, t + 4; columns g + 0..7) then hit 32 distinct banks
  constexpr int LDA = kTcBM + 8, LDB = kTcBN + 8;
  __shared__ __align__(16) float As[2][kTcBK * LDA];
  __shared__ __align__(16) float Bs[2][kTcBK * LDB];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / (kTcBN / kTcWN), wn = warp % (kTcBN / kTcWN);
  const int gq = lane >> 2, tq = lane & 3;  // mma groupID, threadID_in_group
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTcBM, n0 = static_cast<int64_t>(blockIdx.x) * kTcBN;

  float acc[kTcMI][kTcNI][4];
#pragma unroll
  for (int i = 0; i < kTcMI; i++)
#pragma unroll
    for (int j = 0; j < kTcNI; j++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[i][j][c] = 0.0f;

  TileLoader<kTcBM, kTcBN, kTcBK, kTcThreads> tiles;
  const int64_t ktiles = (g.K + kTcBK - 1) / kTcBK;
  if (ktiles > 0) {
    tiles.load(g, m0, n0, 0);
    tiles.template store<LDA, LDB>(g, As[0], Bs[0]);
  }
  __syncthreads();
  for (int64_t kt = 0; kt < ktiles; kt++) {
    const int cur = static_cast<int>(kt & 1);
    if (kt + 1 < ktiles) tiles.load(g, m0, n0, (kt + 1) * kTcBK);
    const float *as = As[cur] + wm * kTcWM;
    const float *bs = Bs[cur] + wn * kTcWN;
#pragma unroll
    for (int kk = 0; kk < kTcBK; kk += 8) {
      uint32_t af[kTcMI][4], bf[kTcNI][2];
#pragma unroll
      for (int i = 0; i < kTcMI; i++) {
        const float *p = as + (kk + tq) * LDA + i * 16 + gq;
        af[i][0] = to_tf32(p[0]);            // (row g,     k t)
        af[i][1] = to_tf32(p[8]);            // (row g + 8, k t)
        af[i][2] = to_tf32(p[4 * LDA]);      // (row g,     k t + 4)
        af[i][3] = to_tf32(p[4 * LDA + 8]);  // (row g + 8, k t + 4)
      }
#pragma unroll
      for (int j = 0; j < kTcNI; j++) {
        const float *p = bs + (kk + tq) * LDB + j * 8 + gq;
        bf[j][0] = to_tf32(p[0]);        // (k t,     col g)
        bf[j][1] = to_tf32(p[4 * LDB]);  // (k t + 4, col g)
      }
#pragma unroll
      for (int i = 0; i < kTcMI; i++)
#pragma unroll
        for (int j = 0; j < kTcNI; j++) mma_tf32(acc[i][j], af[i], bf[j]);
    }
    if (kt + 1 < ktiles) tiles.template store<LDA, LDB>(g, As[cur ^ 1], Bs[cur ^ 1]);
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kTcMI; i++) {
#pragma unroll
    for (int j = 0; j < kTcNI; j++) {
      const int64_t m = m0 + wm * kTcWM + i * 16 + gq;
      const int64_t n = n0 + wn * kTcWN + j * 8 + 2 * tq;
      store_out(g, m, n, acc[i][j][0]);      // (row g,     col 2t)
      store_out(g, m, n + 1, acc[i][j][1]);  // (row g,     col 2t + 1)
      store_out(g, m + 8, n, acc[i][j][2]);  // (row g + 8, col 2t)
      store_out(g, m + 8, n + 1, acc[i][j][3]);
    }
  }
}

// ---- bias gradient ----------------------------------------------------------------------------

__global__ void bias_backward_kernel(float *partial, float *dbias, const float *dout, int64_t M,
                                     int64_t N, int64_t rows_per_slice) {
  __shared__ float sh[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  const int64_t r0 = blockIdx.y * rows_per_slice;
  const int64_t r1 = r0 + rows_per_slice < M ? r0 + rows_per_slice : M;
  float s = 0.0f;
  if (col < N)
    for (int64_t r = r0 + ty; r < r1; r += 8) s += dout[r * N + col];
  sh[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && col < N) {
    for (int k = 1; k < 8; k++) s += sh[k][tx];
    if (gridDim.y == 1) dbias[col] += s;
    else partial[blockIdx.y * N + col] = s;
  }
}

__global__ void bias_backward_finish_kernel(float *dbias, const float *partial, int64_t N, int slices) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= N) return;
  float s = 0.0f;
  for (int k = 0; k < slices; k++) s += partial[k * N + col];
  dbias[col] += s;
}

void run_gemm(CudaContext &ctx, GemmArgs g, const char *op) {
  if (g.M == 0 || g.N == 0) return;
  if (g.alpha == 0.0f) g.K = 0;  // as BLAS: A and B are not read (their NaNs do not leak into C)
  activate(ctx);
  cudaStream_t s = stream_of(ctx);
  auto tiles = [&](int bm, int bn) { return ((g.M + bm - 1) / bm) * ((g.N + bn - 1) / bn); };
  auto grid = [&](int bm, int bn) {
    const int64_t gy = (g.M + bm - 1) / bm;
    if (gy > 65535)
      throw Error(FL_ERR_UNSUPPORTED, std::string(op) + ": M = " + std::to_string(g.M) +
                                          " is too large for one CUDA launch");
    return dim3(static_cast<unsigned>((g.N + bn - 1) / bn), static_cast<unsigned>(gy));
  };
  if (ctx.tf32) {
    sgemm_tf32_kernel<<<grid(kTcBM, kTcBN), kTcThreads, 0, s>>>(g);
    check_launch(ctx, (std::string(op) + "/sgemm_tf32_kernel").c_str());
  } else if (tiles(128, 128) >= ctx.sm_count) {
    sgemm_simt_kernel<128, 128, 8, 8, 8><<<grid(128, 128), 256, 0, s>>>(g);
    check_launch(ctx, (std::string(op) + "/sgemm_simt_kernel<128x128>").c_str());
  } else {
    sgemm_simt_kernel<64, 64, 8, 4, 4><<<grid(64, 64), 256, 0, s>>>(g);
    check_launch(ctx, (std::string(op) + "/sgemm_simt_kernel<64x64>").c_str());
  }
}

}  // namespace

void sgemm(CudaContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
           int64_t ldc) {
  run_gemm(ctx, GemmArgs{A, B, C, nullptr, M, N, K, lda, ldb, ldc, alpha, beta, trans_a != 0, trans_b != 0},
           "fl_sgemm");
}

void sgemm_bias(CudaContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                const float *A, int64_t lda, const float *B, int64_t ldb, const float *bias,
                float *C, int64_t ldc) {
  run_gemm(ctx, GemmArgs{A, B, C, bias, M, N, K, lda, ldb, ldc, 1.0f, 0.0f, trans_a != 0, trans_b != 0},
           "fl_sgemm_bias");
}

void sgemm_bf16w(CudaContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float *A, int64_t lda, const uint16_t *B, int64_t ldb,
                 float beta, const float *bias, float *C, int64_t ldc) {
  run_gemm(ctx, GemmArgs{A, nullptr, C, bias, M, N, K, lda, ldb, ldc, alpha, beta, trans_a != 0,
                         trans_b != 0, B},
           "fl_sgemm_bf16w");
}

void bias_backward(CudaContext &ctx, float *dbias, const float *dout, int64_t M, int64_t N) {
  if (M == 0 || N == 0 || dbias == nullptr) return;
  activate(ctx);
  const int64_t col_blocks = (N + 31) / 32;
  int64_t slices = (4LL * ctx.sm_count + col_blocks - 1) / col_blocks;
  const int64_t max_slices = (M + 63) / 64;
  if (slices > max_slices) slices = max_slices;
  if (slices > 1024) slices = 1024;
  if (slices < 1) slices = 1;
  const int64_t rows_per_slice = (M + slices - 1) / slices;
  slices = (M + rows_per_slice - 1) / rows_per_slice;
  float *partial = slices > 1 ? static_cast<float *>(scratch(ctx, slices * N * 4)) : nullptr;
  bias_backward_kernel<<<dim3(static_cast<unsigned>(col_blocks), static_cast<unsigned>(slices)),
                         dim3(32, 8), 0, stream_of(ctx)>>>(partial, dbias, dout, M, N, rows_per_slice);
  check_launch(ctx, "fl_bias_backward/bias_backward_kernel");
  if (slices > 1) {
    bias_backward_finish_kernel<<<blocks_for(N, 256), 256, 0, stream_of(ctx)>>>(dbias, partial, N,
                                                                                 static_cast<int>(slices));
    check_launch(ctx, "fl_bias_backward/bias_backward_finish_kernel");
  }
}

}  // namespace cuda
}  // namespace fl
