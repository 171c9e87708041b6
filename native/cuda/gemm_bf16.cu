// fl_gemm_bf16: C(M,N) = alpha op(A) op(B) + beta C (+ bias), A and B bf16 (uint16_t bit patterns),
// C and bias fp32, fp32 accumulation on bf16 tensor cores (mma.sync.m16n8k16, sm_80+). Row-major,
// any transposes and leading dimensions. The GEMMs of `--precision bf16` training.
//
// Tiles: block 128x128x32, 256 threads = 8 warps of 64x32 (2 x 4); when the 128 tiles would leave
// SMs idle (small M*N, e.g. small batches), block 64x64x32, 128 threads = 4 warps of 32x32. Each warp
// issues (WM/16) x (WN/8) mma per 16-wide k step.
//
// Shared memory keeps each operand tile in global memory's order, so every thread loads and stores
// whole 16-byte chunks (8 bf16, consecutive along the operand's contiguous dimension):
//   k contiguous (A untransposed, B transposed)  As[m][k] / Bs[n][k], rows padded from 32 to 40 bf16
//       (20 words): every fragment register is two bf16 of consecutive k, one 32-bit shared load,
//       and the 8 rows x 4 words a warp reads per register fall in 32 distinct banks.
//   m / n contiguous (A^T stored K x M, B stored K x N; the (in, out) weights of fuselm's Linear)
//       As[k][m] / Bs[k][n], rows padded to BM + 8 / BN + 8 (a 4-word bank shift per row):
//       fragments come from ldmatrix.x4.trans, which reads four 8x8 blocks (8 rows of 16 bytes each,
//       conflict-free) and hands each lane two consecutive k of one m / n: the mma register.
// The kernel is instantiated per layout pair (4 x 2 tile shapes); the launcher picks one.
//
// The loader: a chunk wholly inside the matrix is one 16-byte load when aligned (lda/ldb multiples
// of 8 and aligned base pointers make every inner chunk so) or two aligned 16-byte loads and a
// funnel shift when not (odd leading dimensions); a chunk crossing the matrix edge is 8
// bounds-checked 16-bit loads (zero outside), so awkward M, N, K and any leading dimension need no
// padding. Double buffering as in gemm.cu: the next k-tile is loaded into registers while the
// current one is multiplied, then stored to the other buffer; one __syncthreads per k-tile.
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
// Not done (perf): cp.async multi-stage pipelines (the register-staged double buffer hides one
// tile's load latency only), ldmatrix for the k-contiguous operands too, a GEMV / split-K path for
// M = 1 or small M*N with large K, vectorised epilogue stores, Hopper wgmma / TMA.
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

// One operand's (rows x kBK) slice in shared memory, its rows being m for A and n for B.
// KC (k contiguous in global memory: A untransposed, B transposed) keeps global memory's order,
// rows x k (stride kLds): chunk c is row c / 4, k (c % 4) * 8 .. +7, and fragments are read with
// 32-bit loads. Otherwise (A^T stored K x M, B stored K x N) the slice is stored k x rows (stride
// rows + 8, again global memory's order): chunk c is k c / (rows / 8), rows (c % (rows / 8)) * 8 .. +7,
// and fragments are read with ldmatrix.trans. Either way consecutive threads load consecutive
// 16-byte chunks of a global row and store them with one 16-byte shared store.
template <int ROWS, bool KC, int NT>
struct OperandTile {
  static constexpr int kLd = KC ? kLds : ROWS + 8;  // shared row stride in bf16
  static constexpr int kElems = KC ? ROWS * kLds : kBK * (ROWS + 8);
  static constexpr int kChunks = ROWS * kBK / 8 / NT;
  static_assert(ROWS * kBK % (8 * NT) == 0, "chunks must split evenly");
  uint4 v[kChunks];

  // p: the operand in global memory (ld), r0 / k0: the slice's first row (m or n) and k
  __device__ __forceinline__ void load(const uint16_t *p, int64_t ld, int64_t rows, int64_t K, int64_t r0,
                                       int64_t k0) {
#pragma unroll
    for (int i = 0; i < kChunks; i++) {
      const int c = threadIdx.x + i * NT;
      if (KC) v[i] = load_chunk(p, ld, r0 + c / (kBK / 8), rows, k0 + (c % (kBK / 8)) * 8, K);
      else v[i] = load_chunk(p, ld, k0 + c / (ROWS / 8), K, r0 + (c % (ROWS / 8)) * 8, rows);
    }
  }

  __device__ __forceinline__ void store(uint16_t *s) const {
#pragma unroll
    for (int i = 0; i < kChunks; i++) {
      const int c = threadIdx.x + i * NT;
      uint16_t *dst = KC ? s + (c / (kBK / 8)) * kLd + (c % (kBK / 8)) * 8 : s + (c / (ROWS / 8)) * kLd + (c % (ROWS / 8)) * 8;
      *reinterpret_cast<uint4 *>(dst) = v[i];
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

// Four 8x8 bf16 matrices from shared memory, transposed: lanes 8q .. 8q + 7 give the addresses of
// matrix q's 8 rows (16 bytes each); lane l receives in r[q] the elements (row 2 (l % 4), col l / 4)
// (low half) and (row 2 (l % 4) + 1, col l / 4) of matrix q. With rows = k that is an mma fragment
// register: two consecutive k of one m (or n).
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const uint16_t *p) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

__device__ __forceinline__ void store_out(const Bf16GemmArgs &g, int64_t m, int64_t n, float acc) {
  if (m >= g.M || n >= g.N) return;
  float v = g.alpha * acc;
  float *c = g.C + m * g.ldc + n;
  if (g.beta != 0.0f) v += g.beta * *c;
  if (g.bias != nullptr) v += g.bias[n];
  *c = v;
}

// A_KC / B_KC: whether k is contiguous in global memory for A (untransposed) and B (transposed).
template <int BM, int BN, int WM, int WN, bool A_KC, bool B_KC>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, 2) gemm_bf16_kernel(Bf16GemmArgs g) {
  constexpr int NT = (BM / WM) * (BN / WN) * 32;
  constexpr int MI = WM / 16, NI = WN / 8;
  static_assert(NI % 2 == 0, "B fragments come in pairs from ldmatrix.x4");
  using TileA = OperandTile<BM, A_KC, NT>;
  using TileB = OperandTile<BN, B_KC, NT>;
  constexpr int LA = TileA::kLd, LB = TileB::kLd;
  __shared__ __align__(16) uint16_t As[2][TileA::kElems];
  __shared__ __align__(16) uint16_t Bs[2][TileB::kElems];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / (BN / WN), wn = warp % (BN / WN);
  const int gq = lane >> 2, tq = lane & 3;  // mma groupID, threadID_in_group
  const int lr = lane & 7, lq = lane >> 3;  // ldmatrix: the row this lane addresses, of matrix lq
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM, n0 = static_cast<int64_t>(blockIdx.x) * BN;

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; i++)
#pragma unroll
    for (int j = 0; j < NI; j++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[i][j][c] = 0.0f;

  TileA ta;
  TileB tb;
  const int64_t ktiles = (g.K + kBK - 1) / kBK;
  if (ktiles > 0) {
    ta.load(g.A, g.lda, g.M, g.K, m0, 0);
    tb.load(g.B, g.ldb, g.N, g.K, n0, 0);
    ta.store(As[0]);
    tb.store(Bs[0]);
  }
  __syncthreads();
  for (int64_t kt = 0; kt < ktiles; kt++) {
    const int cur = static_cast<int>(kt & 1);
    if (kt + 1 < ktiles) {
      ta.load(g.A, g.lda, g.M, g.K, m0, (kt + 1) * kBK);
      tb.load(g.B, g.ldb, g.N, g.K, n0, (kt + 1) * kBK);
    }
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      uint32_t af[MI][4], bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; i++) {
        const int mrow = wm * WM + i * 16;  // the fragment's first m in the tile
        if (A_KC) {
          const uint16_t *p = As[cur] + (mrow + gq) * LA + kk + 2 * tq;
          af[i][0] = ld_pair(p);              // (row g,     k 2t, 2t+1)
          af[i][1] = ld_pair(p + 8 * LA);     // (row g + 8, k 2t, 2t+1)
          af[i][2] = ld_pair(p + 8);          // (row g,     k 2t+8, 2t+9)
          af[i][3] = ld_pair(p + 8 * LA + 8); // (row g + 8, k 2t+8, 2t+9)
        } else {
          // matrices (m + 0, k + 0), (m + 8, k + 0), (m + 0, k + 8), (m + 8, k + 8): a[0] .. a[3]
          ldsm_x4_trans(af[i], As[cur] + (kk + lr + (lq >> 1) * 8) * LA + mrow + (lq & 1) * 8);
        }
      }
#pragma unroll
      for (int j = 0; j < NI; j += 2) {
        const int ncol = wn * WN + j * 8;  // the first n of fragments j and j + 1
        if (B_KC) {
#pragma unroll
          for (int h = 0; h < 2; h++) {
            const uint16_t *p = Bs[cur] + (ncol + h * 8 + gq) * LB + kk + 2 * tq;
            bf[j + h][0] = ld_pair(p);      // (k 2t, 2t+1,   col g)
            bf[j + h][1] = ld_pair(p + 8);  // (k 2t+8, 2t+9, col g)
          }
        } else {
          // matrices (k + 0, n + 0), (k + 8, n + 0), (k + 0, n + 8), (k + 8, n + 8):
          // b[j][0], b[j][1], b[j + 1][0], b[j + 1][1]
          uint32_t r[4];
          ldsm_x4_trans(r, Bs[cur] + (kk + lr + (lq & 1) * 8) * LB + ncol + (lq >> 1) * 8);
          bf[j][0] = r[0];
          bf[j][1] = r[1];
          bf[j + 1][0] = r[2];
          bf[j + 1][1] = r[3];
        }
      }
#pragma unroll
      for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NI; j++) mma_bf16(acc[i][j], af[i], bf[j]);
    }
    if (kt + 1 < ktiles) {
      ta.store(As[cur ^ 1]);
      tb.store(Bs[cur ^ 1]);
    }
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

// One tile shape, the kernel for the operands' layouts.
template <int BM, int BN, int WM, int WN>
void launch_gemm_bf16(const Bf16GemmArgs &g, dim3 grid, cudaStream_t s) {
  constexpr int NT = (BM / WM) * (BN / WN) * 32;
  const bool a_kc = !g.trans_a, b_kc = g.trans_b != 0;
  if (a_kc && b_kc) gemm_bf16_kernel<BM, BN, WM, WN, true, true><<<grid, NT, 0, s>>>(g);
  else if (a_kc) gemm_bf16_kernel<BM, BN, WM, WN, true, false><<<grid, NT, 0, s>>>(g);
  else if (b_kc) gemm_bf16_kernel<BM, BN, WM, WN, false, true><<<grid, NT, 0, s>>>(g);
  else gemm_bf16_kernel<BM, BN, WM, WN, false, false><<<grid, NT, 0, s>>>(g);
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
    launch_gemm_bf16<128, 128, 64, 32>(g, grid(128, 128), s);
    check_launch(ctx, "fl_gemm_bf16/gemm_bf16_kernel<128x128>");
  } else {
    launch_gemm_bf16<64, 64, 32, 32>(g, grid(64, 64), s);
    check_launch(ctx, "fl_gemm_bf16/gemm_bf16_kernel<64x64>");
  }
}

}  // namespace cuda
}  // namespace fl
