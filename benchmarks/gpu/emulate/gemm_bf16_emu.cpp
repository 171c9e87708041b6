// Host emulation of the fl_gemm_bf16 CUDA kernel (see run.sh beside this file): one std::thread per
// CUDA thread, a barrier for __syncthreads, mma.m16n8k16 emulated per warp from the PTX ISA fragment
// tables (written here independently of the kernel's comments), __shared__ arrays as statics (blocks
// run one after another). Checked against a double loop with the conformance test's tolerance.
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>
#include <string>

struct Barrier {
  std::mutex mu; std::condition_variable cv; int n, waiting = 0; long gen = 0;
  explicit Barrier(int count = 0) : n(count) {}
  void wait() {
    std::unique_lock<std::mutex> l(mu);
    long g = gen;
    if (++waiting == n) { waiting = 0; gen++; cv.notify_all(); return; }
    cv.wait(l, [&] { return gen != g; });
  }
};
struct Dim { unsigned x = 0, y = 0, z = 0; };
thread_local Dim threadIdx, blockIdx;
Barrier *block_barrier;
inline void __syncthreads() { block_barrier->wait(); }
struct alignas(16) uint4 { uint32_t x, y, z, w; };
inline uint4 make_uint4(uint32_t x, uint32_t y, uint32_t z, uint32_t w) { return {x, y, z, w}; }
inline uint32_t __funnelshift_r(uint32_t lo, uint32_t hi, unsigned shift) {
  return static_cast<uint32_t>(((static_cast<uint64_t>(hi) << 32) | lo) >> (shift & 31));
}

struct WarpState { Barrier bar{32}; float A[16][16]; float B[16][8]; const uint16_t *rows[32]; };
WarpState warps[8];
inline float widen(uint16_t h) { uint32_t u = uint32_t(h) << 16; float f; std::memcpy(&f, &u, 4); return f; }
inline void emu_mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  WarpState &w = warps[threadIdx.x >> 5];
  auto lo = [](uint32_t r) { return widen(uint16_t(r & 0xffff)); };
  auto hi = [](uint32_t r) { return widen(uint16_t(r >> 16)); };
  // PTX ISA: A a0,a1 (g, 2t..), a2,a3 (g+8, 2t..), a4,a5 (g, 2t+8..), a6,a7 (g+8, 2t+8..)
  w.A[g][2 * t] = lo(a[0]); w.A[g][2 * t + 1] = hi(a[0]);
  w.A[g + 8][2 * t] = lo(a[1]); w.A[g + 8][2 * t + 1] = hi(a[1]);
  w.A[g][2 * t + 8] = lo(a[2]); w.A[g][2 * t + 9] = hi(a[2]);
  w.A[g + 8][2 * t + 8] = lo(a[3]); w.A[g + 8][2 * t + 9] = hi(a[3]);
  // B b0,b1 (k 2t.., col g), b2,b3 (k 2t+8.., col g)
  w.B[2 * t][g] = lo(b[0]); w.B[2 * t + 1][g] = hi(b[0]);
  w.B[2 * t + 8][g] = lo(b[1]); w.B[2 * t + 9][g] = hi(b[1]);
  w.bar.wait();
  const int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  for (int c = 0; c < 4; c++) {
    float s = d[c];
    for (int k = 0; k < 16; k++) s += w.A[rows[c]][k] * w.B[k][cols[c]];
    d[c] = s;
  }
  w.bar.wait();
}

int misaligned_ldmatrix = 0;
// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 (PTX ISA): lanes 8q..8q+7 address the rows of
// matrix q (16 bytes, 16-byte aligned); lane l receives in r[q] the elements (row 2 (l % 4), col l / 4)
// in its low half and (row 2 (l % 4) + 1, col l / 4) in its high half.
inline void emu_ldsm_x4_trans(uint32_t (&r)[4], const uint16_t *p) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  WarpState &w = warps[threadIdx.x >> 5];
  if (reinterpret_cast<uintptr_t>(p) & 15) misaligned_ldmatrix++;
  w.rows[lane] = p;
  w.bar.wait();
  for (int q = 0; q < 4; q++)
    r[q] = uint32_t(w.rows[q * 8 + 2 * t][g]) | uint32_t(w.rows[q * 8 + 2 * t + 1][g]) << 16;
  w.bar.wait();
}

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
namespace fl { namespace cuda {
#include "kernel_emu.inc"

template <int BM, int BN, int WM, int WN>
void launch(Bf16GemmArgs g) {
  if (g.M == 0 || g.N == 0) return;
  if (g.alpha == 0.0f) g.K = 0;
  constexpr int NT = (BM / WM) * (BN / WN) * 32;
  const int gx = int((g.N + BN - 1) / BN), gy = int((g.M + BM - 1) / BM);
  Barrier bar(NT);
  block_barrier = &bar;
  const bool a_kc = !g.trans_a, b_kc = g.trans_b != 0;
  for (int by = 0; by < gy; by++)
    for (int bx = 0; bx < gx; bx++) {
      std::vector<std::thread> ts;
      for (int t = 0; t < NT; t++)
        ts.emplace_back([=] {
          threadIdx.x = t; blockIdx.x = bx; blockIdx.y = by;
          if (a_kc && b_kc) gemm_bf16_kernel<BM, BN, WM, WN, true, true>(g);
          else if (a_kc) gemm_bf16_kernel<BM, BN, WM, WN, true, false>(g);
          else if (b_kc) gemm_bf16_kernel<BM, BN, WM, WN, false, true>(g);
          else gemm_bf16_kernel<BM, BN, WM, WN, false, false>(g);
        });
      for (auto &t : ts) t.join();
    }
}
}}  // namespace fl::cuda

using namespace fl::cuda;
uint16_t narrow(float f) { uint32_t u; std::memcpy(&u, &f, 4); u += 0x7fffu + ((u >> 16) & 1u); return uint16_t(u >> 16); }

int failures = 0;
void run_case(int64_t M, int64_t N, int64_t K, int ta, int tb, int64_t pad, int64_t off, int big, float alpha, float beta, bool use_bias) {
  std::mt19937 rng(unsigned(M * 131 + N * 7 + K + ta * 3 + tb * 5 + pad + off));
  std::uniform_real_distribution<float> U(-1.f, 1.f);
  const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  const int64_t lda = ac + pad, ldb = bc + pad, ldc = N + pad;
  // aligned backing store (like cudaMalloc), then an element offset
  std::vector<uint4> abuf((ar * lda + off + 8) / 8 + 1), bbuf((br * ldb + off + 8) / 8 + 1);
  uint16_t *A = reinterpret_cast<uint16_t *>(abuf.data()) + off, *B = reinterpret_cast<uint16_t *>(bbuf.data()) + off;
  for (int64_t i = 0; i < ar * lda; i++) A[i] = narrow(U(rng));
  for (int64_t i = 0; i < br * ldb; i++) B[i] = narrow(U(rng));
  std::vector<float> C(M * ldc), bias(N);
  for (auto &x : C) x = beta == 0.f ? NAN : U(rng);
  for (auto &x : bias) x = U(rng);
  std::vector<float> C0 = C;
  Bf16GemmArgs g{A, B, C.data(), use_bias ? bias.data() : nullptr, M, N, K, lda, ldb, ldc, alpha, beta, ta, tb};
  if (big) launch<128, 128, 64, 32>(g); else launch<64, 64, 32, 32>(g);
  double maxerr = 0;
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < ldc; n++) {
      if (n >= N) {
        const bool same = (std::isnan(C0[m * ldc + n]) && std::isnan(C[m * ldc + n])) || C0[m * ldc + n] == C[m * ldc + n];
        if (!same) { failures++; std::printf("FAIL padding written at %ld,%ld\n", long(m), long(n)); return; }
        continue;
      }
      double s = 0;
      if (alpha != 0.f)
        for (int64_t k = 0; k < K; k++)
          s += double(widen(ta ? A[k * lda + m] : A[m * lda + k])) * double(widen(tb ? B[n * ldb + k] : B[k * ldb + n]));
      double want = double(alpha) * s + (beta != 0.f ? double(beta) * C0[m * ldc + n] : 0.0) + (use_bias ? bias[n] : 0.0);
      const double err = std::fabs(C[m * ldc + n] - want);
      if (!(err <= 1e-4 * std::fabs(want) + 4 * 6e-8 * K * std::sqrt(double(K)) + 1e-5)) {
        failures++;
        std::printf("FAIL %ldx%ldx%ld ta=%d tb=%d pad=%ld off=%ld big=%d: C[%ld,%ld] = %g, want %g\n", long(M), long(N), long(K), ta, tb,
                    long(pad), long(off), big, long(m), long(n), C[m * ldc + n], want);
        return;
      }
      if (err > maxerr) maxerr = err;
    }
  std::printf("ok   %ldx%ldx%ld ta=%d tb=%d pad=%ld off=%ld big=%d alpha=%g beta=%g bias=%d max err %.3g\n", long(M), long(N), long(K), ta, tb,
              long(pad), long(off), big, alpha, beta, int(use_bias), maxerr);
}

int main() {
  struct Case { int64_t M, N, K, pad, off; };
  const Case cases[] = {{1, 1, 1, 0, 0}, {7, 63, 65, 0, 0}, {65, 7, 129, 3, 0}, {63, 129, 7, 1, 0}, {129, 65, 63, 0, 1},
                        {70, 96, 200, 0, 0}, {5, 3, 0, 0, 0}, {33, 40, 17, 0, 1}, {130, 136, 64, 8, 0}, {17, 200, 96, 0, 0},
                        // odd leading dimensions and every misalignment of the operands' start
                        {40, 72, 75, 0, 3}, {70, 33, 50, 1, 5}, {24, 80, 90, 1, 2}, {50, 50, 41, 2, 6}, {65, 70, 33, 0, 7}};
  for (const Case &c : cases)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int big = 0; big < 2; big++) run_case(c.M, c.N, c.K, ta, tb, c.pad, c.off, big, 0.5f, 0.25f, true);
  run_case(70, 50, 40, 0, 1, 0, 0, 0, 1.f, 0.f, false);
  run_case(70, 50, 40, 1, 0, 2, 0, 1, 1.f, 0.f, true);
  run_case(9, 7, 9, 0, 1, 0, 0, 0, 0.f, 0.5f, true);
  if (misaligned_ldmatrix) { std::printf("%d misaligned ldmatrix row addresses\n", misaligned_ldmatrix); failures++; }
  std::printf("%d failures\n", failures);
  return failures != 0;
}
