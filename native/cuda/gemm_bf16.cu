// fl_gemm_bf16: C(M,N) = alpha op(A) op(B) + beta C (+ bias), A and B bf16 (uint16_t bit patterns),
// C and bias fp32, fp32 accumulation on bf16 tensor cores (mma.sync.m16n8k16, sm_80+). Row-major,
// any transposes and leading dimensions. The GEMMs of `--precision bf16` training.
//
// Tiles: block 128x128x32, 256 threads = 8 warps of 64x32 (2 x 4); when the 128 tiles would leave
// SMs idle (small M*N, e.g. small batches), block 64x64x32, 128 threads = 4 warps of 32x32. Each warp
// issues (WM/16) x (WN/8) mma per 16-wide k step.
//
// Shared memory holds both operands "k innermost": As[m][k] and Bs[n][k] (rows padded from 32 to 40
// bf16 = 20 words). That is the order the fragments want: every fragment register is two bf16 of
// consecutive k, so one 32-bit shared load fills it, and with a 20-word row stride the 8 rows x 4
// words a warp reads per fragment register fall in 32 distinct banks.
//
// The loader moves 8 bf16 (16 bytes) per chunk, consecutive along the operand's contiguous
// dimension in global memory (k for A and B^T, m for A^T, n for B): a chunk wholly inside the
// matrix is one 16-byte load when aligned (lda/ldb multiples of 8 and aligned base pointers make
// every inner chunk so) or two aligned 16-byte loads and a funnel shift when not (odd leading
// dimensions); a chunk crossing the matrix edge is 8 bounds-checked 16-bit loads (zero outside), so
// awkward M, N, K and any leading dimension need no padding. A chunk along k is stored
// to shared memory as one 16-byte store; a chunk along m or n is spread over 8 rows (8 16-bit
// stores). In the transposed case consecutive threads take consecutive k (not consecutive chunks
// along m / n) so that those 16-bit stores of a warp hit distinct words. Double buffering as in
// gemm.cu: the next k-tile is loaded into registers while the current one is multiplied, then
// stored to the other buffer; one __syncthreads per k-tile.
//
// Fragment layouts of mma.m16n8k16.row.col (PTX ISA, "Matrix Fragments for mma.m16n8k16 with
// floating point type"); g = lane / 4 (groupID), t = lane % 4 (threadID_in_group); a register holds
// two bf16, the lower k in its low 16 bits:
//   A (16x16, row)  a[0]: (row g,     k 2t, 2t+1)    a[1]: (row g + 8, k 2t, 2t+1)
//                   a[2]: (row g,     k 2t+8, 2t+9)  a[3]: (row g + 8, k 2t+8, 2t+9)
//   B (16x8, col)   b[0]: (k 2t, 2t+1,   col g)      b[1]: (k 2t+8, 2t+9, col g)
//   C (16x8, fp32)  c[0], c[1]: (row g, cols 2t, 2t+1)   c[2], c[3]: (row g + 8, cols 2t, 2t+1)
//
// Out-of-range rows / columns / k are loaded as zeros; products of zero-filled k are 0 on both
// sides, rows and columns outside C are computed and not stored. alpha == 0 or K == 0: no k-tile
// runs, A and B are not read. beta == 0: C is not read. The epilogue is gemm.cu's (alpha, beta,
// bias per element, fp32).
//
// Not done (perf): cp.async multi-stage pipelines and ldmatrix(.trans) fragment loads (the transposed
// operands go through 16-bit shared stores instead), a GEMV / split-K path for M = 1 or small M*N
// with large K, vectorised epilogue stores.
#include <cstdint>

#include "common.cuh"

namespace fl {
namespace cuda {

namespace {

struct Bf16GemmArgs {
  const uint16_t *A;
  const uint16_t *B;
  float *C;
  const float *bias;
  int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
  int trans_a, trans_b;
};

constexpr int kBK = 32;        // k per tile: two mma k steps
constexpr int kLds = kBK + 8;  // shared row stride in bf16 (20 words: conflict-free fragments)

// 8 consecutive bf16 of row `row` of a (rows x cols, leading dimension ld) matrix, from column col;
// zeros outside. A chunk wholly inside: one 16-byte load when its address is 16-byte aligned, else
// the two aligned 16-byte blocks that hold its first and last element, shifted into place (odd
// leading dimensions such as GPT-2's vocabulary of 50257 make most rows misaligned). Those blocks
// may extend past the matrix, never past the 16-byte-aligned memory that holds its elements, so the
// reads cannot fault (and fl_malloc rounds allocations up to 256 bytes). A partial chunk at the
// matrix edge: bounds-checked 16-bit loads.
__device__ __forceinline__ uint4 load_chunk(const uint16_t *p, int64_t ld, int64_t row, int64_t rows,
                                            int64_t col, int64_t cols) {
  uint4 v = make_uint4(0u, 0u, 0u, 0u);
  if (row >= rows || col >= cols) return v;
  const uint16_t *src = p + row * ld + col;
  if (col + 8 <= cols) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(src);
    const unsigned mis = static_cast<unsigned>(addr & 15u);  // even: bf16 are 2-byte aligned
    if (mis == 0) return *reinterpret_cast<const uint4 *>(src);
    const uint4 *blocks = reinterpret_cast<const uint4 *>(addr - mis);
    const uint4 lo = blocks[0], hi = blocks[1];
    uint32_t w0 = lo.x, w1 = lo.y, w2 = lo.z, w3 = lo.w, w4 = hi.x, w5 = hi.y, w6 = hi.z, w7 = hi.w;
    // drop mis / 4 whole words (selects, no local-memory array), then a 0- or 16-bit funnel shift
    if (mis & 8u) { w0 = w2; w1 = w3; w2 = w4; w3 = w5; w4 = w6; w5 = w7; }
    if (mis & 4u) { w0 = w1; w1 = w2; w2 = w3; w3 = w4; w4 = w5; }
    const unsigned sh = (mis & 2u) * 8u;
    return make_uint4(__funnelshift_r(w0, w1, sh), __funnelshift_r(w1, w2, sh), __funnelshift_r(w2, w3, sh),
                      __funnelshift_r(w3, w4, sh));
  }
  uint32_t w[4] = {0u, 0u, 0u, 0u};
#pragma unroll
  for (int e = 0; e < 8; e++)
    if (col + e < cols) w[e >> 1] |= static_cast<uint32_t>(src[e]) << (16 * (e & 1));
  return make_uint4(w[0], w[1], w[2], w[3]);
}

// Element e (0..7) of a chunk.
__device__ __forceinline__ uint16_t chunk_elem(const uint4 &v, int e) {
  const uint32_t w = e < 2 ? v.x : e < 4 ? v.y : e < 6 ? v.z : v.w;
  return static_cast<uint16_t>(w >> (16 * (e & 1)));
}

// Loads the (BM x kBK) slice of op(A) at (m0, k0) and the (kBK x BN) slice of op(B) at (k0, n0)
// into registers as 16-byte chunks; stores them k-innermost (As[m][k], Bs[n][k]) to shared memory.
// Chunk c of A: untransposed, row m = c / 4, k = (c % 4) * 8 .. +7; transposed (A stored K x M),
// k = c % 32, m = (c / 32) * 8 .. +7. B likewise with n for m, "transposed" meaning k contiguous.
template <int BM, int BN, int NT>
struct Bf16TileLoader {
  static constexpr int kA = BM * kBK / 8 / NT;
  static constexpr int kB = BN * kBK / 8 / NT;
  static_assert(BM * kBK % (8 * NT) == 0 && BN * kBK % (8 * NT) == 0, "chunks must split evenly");
  uint4 a[kA], b[kB];

  __device__ __forceinline__ void load(const Bf16GemmArgs &g, int64_t m0, int64_t n0, int64_t k0) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < kA; i++) {
      const int c = tid + i * NT;
      if (!g.trans_a) {  // A is M x K: chunks along k
        a[i] = load_chunk(g.A, g.lda, m0 + c / (kBK / 8), g.M, k0 + (c % (kBK / 8)) * 8, g.K);
      } else {           // A is K x M: chunks along m
        a[i] = load_chunk(g.A, g.lda, k0 + c % kBK, g.K, m0 + (c / kBK) * 8, g.M);
      }
    }
#pragma unroll
    for (int i = 0; i < kB; i++) {
      const int c = tid + i * NT;
      if (g.trans_b) {   // B is N x K: chunks along k
        b[i] = load_chunk(g.B, g.ldb, n0 + c / (kBK / 8), g.N, k0 + (c % (kBK / 8)) * 8, g.K);
      } else {           // B is K x N: chunks along n
        b[i] = load_chunk(g.B, g.ldb, k0 + c % kBK, g.K, n0 + (c / kBK) * 8, g.N);
      }
    }
  }

  __device__ __forceinline__ void store(const Bf16GemmArgs &g, uint16_t *As, uint16_t *Bs) const {
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < kA; i++) {
      const int c = tid + i * NT;
      if (!g.trans_a) {
        *reinterpret_cast<uint4 *>(As + (c / (kBK / 8)) * kLds + (c % (kBK / 8)) * 8) = a[i];
      } else {
        uint16_t *dst = As + (c / kBK) * 8 * kLds + c % kBK;
#pragma unroll
        for (int e = 0; e < 8; e++) dst[e * kLds] = chunk_elem(a[i], e);
      }
    }
#pragma unroll
    for (int i = 0; i < kB; i++) {
      const int c = tid + i * NT;
      if (g.trans_b) {
        *reinterpret_cast<uint4 *>(Bs + (c / (kBK / 8)) * kLds + (c % (kBK / 8)) * 8) = b[i];
      } else {
        uint16_t *dst = Bs + (c / kBK) * 8 * kLds + c % kBK;
#pragma unroll
        for (int e = 0; e < 8; e++) dst[e * kLds] = chunk_elem(b[i], e);
      }
    }
  }
};

// D = A (16x16, row) * B (16x8, col) + D, bf16 inputs, fp32 accumulators.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ uint32_t ld_pair(const uint16_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

__device__ __forceinline__ void store_out(const Bf16GemmArgs &g, int64_t m, int64_t n, float acc) {
  if (m >= g.M || n >= g.N) return;
  float v = g.alpha * acc;
  float *c = g.C + m * g.ldc + n;
  if (g.beta != 0.0f) v += g.beta * *c;
  if (g.bias != nullptr) v += g.bias[n];
  *c = v;
}

template <int BM, int BN, int WM, int WN>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, 2) gemm_bf16_kernel(Bf16GemmArgs g) {
  constexpr int NT = (BM / WM) * (BN / WN) * 32;
  constexpr int MI = WM / 16, NI = WN / 8;
  __shared__ __align__(16) uint16_t As[2][BM * kLds];
  __shared__ __align__(16) uint16_t Bs[2][BN * kLds];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / (BN / WN), wn = warp % (BN / WN);
  const int gq = lane >> 2, tq = lane & 3;  // mma groupID, threadID_in_group
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM, n0 = static_cast<int64_t>(blockIdx.x) * BN;

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; i++)
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[i][j][c] = 0.0f;

  Bf16TileLoader<BM, BN, NT> tiles;
  const int64_t ktiles = (g.K + kBK - 1) / kBK;
  if (ktiles > 0) {
    tiles.load(g, m0, n0, 0);
    tiles.store(g, As[0], Bs[0]);
  }
  __syncthreads();
  for (int64_t kt = 0; kt < ktiles; kt++) {
    const int cur = static_cast<int>(kt & 1);
    if (kt + 1 < ktiles) tiles.load(g, m0, n0, (kt + 1) * kBK);
    const uint16_t *as = As[cur] + (wm * WM + gq) * kLds + 2 * tq;
    const uint16_t *bs = Bs[cur] + (wn * WN + gq) * kLds + 2 * tq;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      uint32_t af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; i++) {
        const uint16_t *p = as + i * 16 * kLds + kk;
        af[i][0] = ld_pair(p);                // (row g,     k 2t, 2t+1)
        af[i][1] = ld_pair(p + 8 * kLds);     // (row g + 8, k 2t, 2t+1)
        af[i][2] = ld_pair(p + 8);            // (row g,     k 2t+8, 2t+9)
        af[i][3] = ld_pair(p + 8 * kLds + 8); // (row g + 8, k 2t+8, 2t+9)
      }
#pragma unroll
      for (int j = 0; j < NI; j++) {
        const uint16_t *p = bs + j * 8 * kLds + kk;
        bf[j][0] = ld_pair(p);      // (k 2t, 2t+1,   col g)
        bf[j][1] = ld_pair(p + 8);  // (k 2t+8, 2t+9, col g)
      }
#pragma unroll
      for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NI; j++) mma_bf16(acc[i][j], af[i], bf[j]);
    }
    if (kt + 1 < ktiles) tiles.store(g, As[cur ^ 1], Bs[cur ^ 1]);
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < MI; i++) {
#pragma unroll
    for (int j = 0; j < NI; j++) {
      const int64_t m = m0 + wm * WM + i * 16 + gq;
      const int64_t n = n0 + wn * WN + j * 8 + 2 * tq;
      store_out(g, m, n, acc[i][j][0]);          // (row g,     col 2t)
      store_out(g, m, n + 1, acc[i][j][1]);      // (row g,     col 2t + 1)
      store_out(g, m + 8, n, acc[i][j][2]);      // (row g + 8, col 2t)
      store_out(g, m + 8, n + 1, acc[i][j][3]);  // (row g + 8, col 2t + 1)
    }
  }
}

}  // namespace

void gemm_bf16(CudaContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
               float alpha, const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb,
               float beta, const float *bias, float *C, int64_t ldc) {
  Bf16GemmArgs g{A, B, C, bias, M, N, K, lda, ldb, ldc, alpha, beta, trans_a != 0, trans_b != 0};
  if (g.M == 0 || g.N == 0) return;
  if (g.alpha == 0.0f) g.K = 0;  // as BLAS: A and B are not read (their NaNs do not leak into C)
  activate(ctx);
  cudaStream_t s = stream_of(ctx);
  auto tiles = [&](int bm, int bn) { return ((g.M + bm - 1) / bm) * ((g.N + bn - 1) / bn); };
  auto grid = [&](int bm, int bn) {
    const int64_t gy = (g.M + bm - 1) / bm;
    if (gy > 65535)
      throw Error(FL_ERR_UNSUPPORTED,
                  "fl_gemm_bf16: M = " + std::to_string(g.M) + " is too large for one CUDA launch");
    return dim3(static_cast<unsigned>((g.N + bn - 1) / bn), static_cast<unsigned>(gy));
  };
  if (tiles(128, 128) >= ctx.sm_count) {
    gemm_bf16_kernel<128, 128, 64, 32><<<grid(128, 128), 256, 0, s>>>(g);
    check_launch(ctx, "fl_gemm_bf16/gemm_bf16_kernel<128x128>");
  } else {
    gemm_bf16_kernel<64, 64, 32, 32><<<grid(64, 64), 128, 0, s>>>(g);
    check_launch(ctx, "fl_gemm_bf16/gemm_bf16_kernel<64x64>");
  }
}

}  // namespace cuda
}  // namespace fl
