// CPU GEMM: C = alpha * op(A) op(B) + beta * C (row-major), the fused-bias variant used by linear
// layers, and the bias gradient. A packed, cache-blocked GotoBLAS/BLIS design:
//
//   for jc over N in nc blocks:                      packed B block (kc x nc) lives in L3
//     for pc over K in kc blocks:                    pack B once, shared by every thread
//       for ic over this thread's rows in mc blocks: pack A (per thread), lives in L2
//         for jr over this thread's NR panels:       B micro-panel (kc x NR) stays in L1
//           for ir over MR panels of the A block:    micro-kernel: MR x NR tile in registers
//
// The micro-kernel and the packing routines come from a per-ISA table (gemm_kernels.h): AVX-512
// (gemm_avx512.cpp), AVX2 + FMA (gemm_avx2.cpp), or the portable one (gemm_generic.cpp). This file
// is compiled for baseline x86-64 (or any architecture) and only calls into an ISA file after checking ctx.isa.
//
// Threads (fl::parallel_for): the threads form a tm x tn grid over (MR panels of M) x (NR panels of
// the N block). With tm == 1 every thread owns a column slice: it packs its own slice of B and all of
// A, and the whole K and N loop runs in ONE parallel region with no barrier. With tm > 1 the B block
// is packed cooperatively first (one extra parallel region per (jc, pc) block) and shared. The grid
// is picked from a small cost model (work of the most loaded thread + packing + barriers).
//
// Edge tiles (M % MR, N % NR) run the same micro-kernel on zero-padded panels into a scratch tile
// and are written back here. The first K block applies beta and the bias; later ones accumulate.
// beta == 0 never reads C; K == 0 or alpha == 0 never reads A or B.
//
// Small M (M <= kSmallM = 8: KV-cached generation, one token per sequence) skips all of the above:
// packing B would cost as much as the whole multiply, which is bound by reading B once from memory.
// gemm_small_impl.h streams B straight from its storage (dot products with rows of B for trans_b,
// axpys over rows of B otherwise), threads owning 64-column units of N; see small_m_driver.
//
// bf16 weights (fl_sgemm_bf16w, in gemm_bf16.cpp): the small-M kernels are templates over B's
// element type, so M <= kSmallM streams the bf16 B directly (half the bytes); larger M widens column
// blocks of B into scratch and runs the packed path above on them.
//
// bf16 A and B (fl_gemm_bf16, bf16 mixed-precision training): the same packed driver, instantiated
// for bf16 sources, whose packers widen the values as they copy them into the float32 panels (exact:
// a 16-bit shift), so nothing but the packed blocks is ever written and the fp32 micro-kernels run
// unchanged: the result is fl_sgemm's on the widened operands, bit for bit. Where the CPU has
// AVX512_BF16 the panels keep bf16 k pairs for vdpbf16ps instead (gemm_kernels.h,
// gemm_avx512bf16.cpp, gemm_bf16_pairs.cpp). M <= kSmallM widens op(A) (at most 8 rows) into scratch
// and streams the bf16 B through the small-M kernels.
//
// Scratch: one 64-byte aligned buffer per calling thread (thread_local, grown on demand, freed at
// thread exit) holds the B block and one A block per task; worker threads allocate nothing. For the
// AVX2 blocking that is about 4 MiB + 144 KiB per thread of a call.
//
// Measured on a 2-core Zen 3 (AVX2), single thread, by CPU time (the machine was shared):
// the 6x16 micro-kernel alone runs at ~96 GFLOP/s (A panels from L2, B micro-panel in L1) against
// ~98 of FMA peak; whole GEMMs at 80-90, OpenBLAS 0.3.21 at 81-89. Tried and dropped:
// - unrolling the micro-kernel's k loop (#pragma GCC unroll 4): GCC then spills two of the twelve
//   accumulators to the stack;
// - software prefetch in the transposing B packer (one panel ahead, or 32..256 floats ahead per row):
//   no gain or slower, the packer is bound by reading B from L3/DRAM;
// - packing column-strip panels one after the other (a 256-row stride walk): 1.5-2x slower than
//   packing groups of panels row by row (gemm_x86_impl.h);
// - packing a thread's whole B slice before computing: the slice (about 1 MiB) then round-trips
//   through L3; packing it group by group just before its first use gained 3-8% on M = 256 shapes.
//
// AVX-512 (gemm_avx512.cpp: 8 x 48 tile, kc from the L1d size), measured on a 2-core AMD EPYC
// Zen 5 (full 512-bit units, 48 KiB L1d, 1 MiB L2), one thread by CPU time, alternating with
// OpenBLAS 0.3.21 in one process (cpu_time_compare.cpp, load average ~10). perf put ~75% of the
// time in the micro-kernel and 6-12% in the B packer on M = 256 (the packer waits on memory):
// - prefetching the source of the NEXT group of B panels, spread over the micro-kernel calls of
//   the current group (Gemm::prefetch_b, AVX-512 level only: on Zen 3 a prefetch inside the packer
//   itself, one panel ahead, did not help), plus every line of the 8 x 48 C tile (the middle line
//   of each 192-byte row was not prefetched): in three such runs (7-9 rounds, 19 cases) the
//   mean ratio to OpenBLAS went 0.91 -> 0.96, 0.965 -> 0.975 and 0.93 -> 0.97 (cells move by
//   3-5% between runs; the LM head and the fwd cases gained most); kept;
// - kc 256, 384, 768 (the B micro-panel then in L2, fewer passes over C) and mc 128: interleaved
//   in one process, all within +-3% of kc 192 / mc 256 (separate runs had suggested +10% for kc
//   384: that was the load, not the blocking); dropped, kc stays 192 on a 48 KiB L1d;
// - two k steps per micro-kernel iteration (32 zmm registers: no spill): no change; dropped.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "bf16.h"
#include "fuselm.h"
#include "gemm_driver.h"
#include "gemm_kernels.h"
#include "gemv.h"
#include "internal.h"
#include "pointwise_kernels.h"

namespace fl {
namespace cpu {
namespace {

using gemm_detail::GemmKernel;

using gemm_internal::ceil_div;
using gemm_internal::round_up;

// ---- scalar panel packers (every ISA's edge panels) -------------------------------------------

// Sources are float32, or bf16 (fl_gemm_bf16: widened exactly as they are packed).
inline float as_f32(float v) { return v; }
inline float as_f32(uint16_t v) { return bf16_to_f32(v); }
inline float as_f32(gemm_internal::RoundedF32 v) { return bf16_to_f32(f32_to_bf16_rne(v.v)); }

// Packs one A panel of `rows` <= mr valid rows, zero-padding rows [rows, mr).
template <typename T>
void pack_a_panel_scalar(const T *a, int64_t lda, bool trans, int64_t rows, int64_t kc, int mr,
                         float *dst) {
  for (int64_t p = 0; p < kc; p++)
    for (int r = 0; r < mr; r++)
      dst[p * mr + r] = r < rows ? as_f32(trans ? a[p * lda + r] : a[r * lda + p]) : 0.f;
}

// Packs one B panel of `cols` <= nr valid columns, zero-padding columns [cols, nr).
template <typename T>
void pack_b_panel_scalar(const T *b, int64_t ldb, bool trans, int64_t cols, int64_t kc, int nr,
                         float *dst) {
  for (int64_t p = 0; p < kc; p++)
    for (int c = 0; c < nr; c++)
      dst[p * nr + c] = c < cols ? as_f32(trans ? b[c * ldb + p] : b[p * ldb + c]) : 0.f;
}

// FUSELM_GEMM_AVX512_LAYOUT=1 (a test aid) makes the AVX2 level run the AVX-512 kernel's 8 x 48
// tile, packing and blocking with 256-bit vectors, so machines without AVX-512 still test all of
// that path but its 512-bit vector wrapper.
const GemmKernel &select_kernel(int isa) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (isa >= FL_ISA_AVX512) return avx512_gemm::kernel_for_cpu();
  if (isa >= FL_ISA_AVX2) {
    const char *layout = std::getenv("FUSELM_GEMM_AVX512_LAYOUT");
    if (layout != nullptr && layout[0] == '1') return avx2_gemm::kKernelAvx512Layout;
    return avx2_gemm::kKernel;
  }
#endif
  (void)isa;
  return gemm_detail::kGenericKernel;
}

// fl_gemm_bf16's packed path: vdpbf16ps on k pairs where the CPU has AVX512_BF16, else the fp32
// kernel of the level (its packers widen the bf16 operands). FUSELM_GEMM_BF16_PAIRS=1 (a test aid)
// runs the k-pair path with the portable emulation of vdpbf16ps instead.
const GemmKernel &select_bf16_kernel(int isa) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (isa >= FL_ISA_AVX512_BF16) return avx512bf16_gemm::kKernel;
#endif
  const char *pairs = std::getenv("FUSELM_GEMM_BF16_PAIRS");
  if (pairs != nullptr && pairs[0] == '1') return gemm_detail::kBf16PairsEmulated;
  return select_kernel(isa);
}

// fl_gemm_mixed's vectorised rounding for the k-pair packers of kr (null: portable).
const gemm_detail::F32PairPacking *round_fn(const GemmKernel &kr) {
#if defined(FUSELM_HAVE_X86_SIMD)
  if (&kr == &avx512bf16_gemm::kKernel) return &avx512bf16_gemm::kF32PairPacking;
#endif
  (void)kr;
  return nullptr;
}

// ---- scratch -----------------------------------------------------------------------------------

// Scratch (gemm_driver.h): one aligned buffer per calling thread.
thread_local Scratch tl_scratch;

// ---- the small-M threshold ----------------------------------------------------------------------

// M <= kSmallM takes the small-M path (gemm_small_impl.h). FUSELM_GEMM_SMALL_M=<n> overrides it
// (a measurement aid: the path is correct for any M; 0 disables it). Measured on the 2-core Zen 3,
// 2 threads, (M, 2304, 768) trans_b: small-M 44-57 GFLOP/s vs packed 18-35 for M = 4..8; at
// M = 12..16 the two are within the noise of each other (50-63 vs 36-53), so 8 it is.
// (M = 1: 2.0-2.5 -> 5.5-6.0 GFLOP/s on (1, 50257, 768), i.e. ~12 GB/s of W against 13.1 GB/s
// measured read bandwidth (benchmarks/gpt/machine_peak.c); (1, 2304, 768): 5.3-6.8 -> 25-30.)
constexpr int64_t kSmallM = 8;
int64_t small_m_limit() {
  const char *e = std::getenv("FUSELM_GEMM_SMALL_M");
  if (e == nullptr || e[0] == 0) return kSmallM;
  return std::atoll(e);
}

// ---- the driver --------------------------------------------------------------------------------

// Each thread should get at least this much work before another thread is woken (a wake-up and
// join of the pool costs some microseconds; 1 MFLOP is ~10 us on one AVX2 core).
constexpr double kMinFlopsPerThread = 1e6;
// Cost-model weights, in flop-equivalents: packing one float, and one extra parallel region.
constexpr double kPackCost = 16.0;
constexpr double kRegionCost = 2e6;

// AT, BT: the element types of A and B, float (fl_sgemm) or uint16_t (bf16, fl_gemm_bf16).
template <typename AT, typename BT>
struct Gemm {
  const GemmKernel &kr;
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  const AT *A;
  int64_t lda;
  const BT *B;
  int64_t ldb;
  const float *bias;
  float *C;
  int64_t ldc;
  // The epilogue of fl_gemm_bias_act: act (FL_ACT_*) applied by pw to each tile after the last K
  // block (FL_ACT_NONE: none, pw unused).
  int act;
  const PointwiseKernels *pw;
  // Prefetch the source of the next group of B panels while the current one is in use (compute()
  // with pack_b_here): the AVX-512 level only (measured there; no effect on any result).
  bool prefetch_b_src = false;

  // act over rows x cols of C at c (row stride ldc), in place: the pointwise kernels' own
  // per-element arithmetic, so the result is bit for bit that of the separate pointwise pass.
  void epilogue(float *c, int64_t rows, int64_t cols) const {
    for (int64_t y = 0; y < rows; y++) {
      float *row = c + y * ldc;
      if (act == FL_ACT_GELU_TANH) pw->gelu_forward(row, row, cols);
      else pw->gelu_erf_forward(row, row, cols);
    }
  }

  // origin of op(A)(i, p) and op(B)(p, j)
  const AT *a_at(int64_t i, int64_t p) const { return ta ? A + p * lda + i : A + i * lda + p; }
  const BT *b_at(int64_t p, int64_t j) const { return tb ? B + j * ldb + p : B + p * ldb + j; }

  // The ISA's packers of full panels, for this element type.
  void pack_a_full(const float *a, int64_t panels, int64_t kc, float *dst) const {
    kr.pack_a(a, lda, ta, panels, kc, dst);
  }
  void pack_a_full(const uint16_t *a, int64_t panels, int64_t kc, float *dst) const {
    kr.pack_a_bf16(a, lda, ta, panels, kc, dst);
  }
  void pack_b_full(const float *b, int64_t panels, int64_t kc, float *dst) const {
    kr.pack_b(b, ldb, tb, panels, kc, dst);
  }
  void pack_b_full(const uint16_t *b, int64_t panels, int64_t kc, float *dst) const {
    kr.pack_b_bf16(b, ldb, tb, panels, kc, dst);
  }
  // RoundedF32 (fl_gemm_mixed): the k-pair packers above take it; this portable round-and-widen
  // only makes the other branches compile (fl_gemm_mixed runs only k-pair kernels packed).
  template <typename T>
  void pack_a_full(const T *a, int64_t panels, int64_t kc, float *dst) const {
    for (int64_t q = 0; q < panels; q++)
      pack_a_panel_scalar(ta ? a + q * kr.mr : a + q * kr.mr * lda, lda, ta, kr.mr, kc, kr.mr,
                          dst + q * kr.mr * kc);
  }
  template <typename T>
  void pack_b_full(const T *b, int64_t panels, int64_t kc, float *dst) const {
    for (int64_t q = 0; q < panels; q++)
      pack_b_panel_scalar(tb ? b + q * kr.nr * ldb : b + q * kr.nr, ldb, tb, kr.nr, kc, kr.nr,
                          dst + q * kr.nr * kc);
  }

  // Packs A rows [i0, i0 + rows) x cols [p0, p0 + kc) into MR panels.
  void pack_a(int64_t i0, int64_t rows, int64_t p0, int64_t kc, float *dst) const {
    if constexpr (std::is_same_v<AT, gemm_internal::RoundedF32>) {  // fl_gemm_mixed: k pairs only
      gemm_detail::pack_pairs_a_f32(&a_at(i0, p0)->v, lda, ta, rows, kc, kr.mr, round_fn(kr),
                                    dst);
      return;
    }
    if constexpr (std::is_same_v<AT, uint16_t>) {
      if (kr.k_pairs) {
        gemm_detail::pack_pairs_a(a_at(i0, p0), lda, ta, rows, kc, kr.mr, dst);
        return;
      }
    }
    int64_t full = rows / kr.mr;
    if (full > 0) pack_a_full(a_at(i0, p0), full, kc, dst);
    int64_t rest = rows - full * kr.mr;
    if (rest > 0)
      pack_a_panel_scalar(a_at(i0 + full * kr.mr, p0), lda, ta, rest, kc, kr.mr,
                          dst + full * kr.mr * kc);
  }

  // Packs B panels [q0, q1) of the block starting at column j0 (nc columns) and row p0; panel q
  // goes to dst + (q - q0) * NR * kc.
  void pack_b(int64_t j0, int64_t nc, int64_t p0, int64_t kc, int64_t q0, int64_t q1,
              float *dst) const {
    if constexpr (std::is_same_v<BT, gemm_internal::RoundedF32>) {
      int64_t cols = std::min(q1 * kr.nr, nc) - q0 * kr.nr;
      gemm_detail::pack_pairs_b_f32(&b_at(p0, j0 + q0 * kr.nr)->v, ldb, tb, cols, kc, kr.nr,
                                    round_fn(kr), dst);
      return;
    }
    if constexpr (std::is_same_v<BT, uint16_t>) {
      if (kr.k_pairs) {
        int64_t cols = std::min(q1 * kr.nr, nc) - q0 * kr.nr;
        gemm_detail::pack_pairs_b(b_at(p0, j0 + q0 * kr.nr), ldb, tb, cols, kc, kr.nr, dst);
        return;
      }
    }
    int64_t full_end = std::min(q1, nc / kr.nr);
    if (full_end > q0) pack_b_full(b_at(p0, j0 + q0 * kr.nr), full_end - q0, kc, dst);
    for (int64_t q = std::max(q0, full_end); q < q1; q++)
      pack_b_panel_scalar(b_at(p0, j0 + q * kr.nr), ldb, tb, nc - q * kr.nr, kc, kr.nr,
                          dst + (q - q0) * kr.nr * kc);
  }

  // Prefetches part `part` of `parts` of the source of B panels [q0, q1) of block (j0, p0) (the
  // region pack_b reads: kc rows of the panels' columns, or their columns' rows when trans_b), so
  // the packing of the next group reads it from cache instead of waiting on memory.
  void prefetch_b(int64_t j0, int64_t nc, int64_t p0, int64_t kc, int64_t q0, int64_t q1,
                  int64_t part, int64_t parts) const {
    const int64_t c0 = q0 * kr.nr, c1 = std::min(q1 * kr.nr, nc);
    if (c0 >= c1) return;
    const int64_t lines = tb ? c1 - c0 : kc;               // rows of the source region
    const int64_t len = (tb ? kc : c1 - c0) * int64_t(sizeof(BT));  // bytes per row
    int64_t l0 = lines * part / parts, l1 = lines * (part + 1) / parts;
    for (int64_t l = l0; l < l1; l++) {
      const char *row = reinterpret_cast<const char *>(tb ? b_at(p0, j0 + c0 + l)
                                                          : b_at(p0 + l, j0 + c0));
      for (int64_t o = 0; o < len; o += 64) __builtin_prefetch(row + o, 0, 3);
      __builtin_prefetch(row + len - 1, 0, 3);
    }
  }

  // C rows of MR panels [r0, r1), columns of NR panels [q0, q1) of block (j0, p0). bpack holds
  // packed B panels [q0, q1) (panel q at bpack + (q - q0) * NR * kc); A is packed into abuf.
  // pack_b_here: bpack is still empty and this call packs it, a group of panels just before the
  // first row block uses them (while they are still in L2), instead of in a separate pass.
  void compute(int64_t r0, int64_t r1, int64_t q0, int64_t q1, int64_t j0, int64_t nc, int64_t p0,
               int64_t kc, float *bpack, float *abuf, bool pack_b_here) const {
    const int MR = kr.mr, NR = kr.nr;
    // Even row blocks of at most kr.mc rows: 22 panels give 2 x 11, not 20 + 2 (a block of a few
    // panels would re-read every B micro-panel from L3 for little work).
    const int64_t mc_panels = ceil_div(r1 - r0, ceil_div(r1 - r0, kr.mc / MR));
    const int64_t group = std::max(1, 128 / NR);  // panels packed together (see gemm_x86_impl.h)
    const float beta_k = p0 == 0 ? beta : 1.f;
    const float *bias_k = p0 == 0 ? bias : nullptr;
    const bool last_k = act != FL_ACT_NONE && p0 + kc == K;
    for (int64_t ic = r0; ic < r1; ic += mc_panels) {
      int64_t ie = std::min(ic + mc_panels, r1);
      int64_t i0 = ic * MR;
      pack_a(i0, std::min(ie * MR, M) - i0, p0, kc, abuf);
      for (int64_t q = q0; q < q1; q++) {
        if (pack_b_here && ic == r0 && (q - q0) % group == 0)
          pack_b(j0, nc, p0, kc, q, std::min(q + group, q1), bpack + (q - q0) * NR * kc);
        const float *bp = bpack + (q - q0) * NR * kc;
        int64_t j = j0 + q * NR;
        int64_t cols = std::min<int64_t>(NR, nc - q * NR);
        const float *bias_j = bias_k ? bias_k + j : nullptr;
        // the next group's source, spread over this group's first row block
        const bool pf = prefetch_b_src && pack_b_here && ic == r0;
        const int64_t gq = (q - q0) / group * group + q0 + group;  // the next group's first panel
        const int64_t pf_parts = std::min(group, q1 - (gq - group)) * (ie - ic);
        for (int64_t r = ic; r < ie; r++) {
          if (pf && gq < q1)
            prefetch_b(j0, nc, p0, kc, gq, std::min(gq + group, q1),
                       ((q - q0) % group) * (ie - ic) + (r - ic), pf_parts);
          const float *ap = abuf + (r - ic) * MR * kc;
          int64_t i = r * MR;
          int64_t rows = std::min<int64_t>(MR, M - i);
          float *cp = C + i * ldc + j;
          if (rows == MR && cols == NR) {
            kr.micro(kc, ap, bp, cp, ldc, alpha, beta_k, bias_j);
          } else {
            alignas(64) float tile[32 * 48];  // MR x NR <= 32 x 48 for every kernel
            kr.micro(kc, ap, bp, tile, NR, 1.f, 0.f, nullptr);
            for (int64_t y = 0; y < rows; y++)
              for (int64_t x = 0; x < cols; x++) {
                float v = alpha * tile[y * NR + x];
                if (beta_k != 0.f) v += beta_k * cp[y * ldc + x];
                if (bias_j) v += bias_j[x];
                cp[y * ldc + x] = v;
              }
          }
          if (last_k) epilogue(cp, rows, cols);
        }
      }
    }
  }
};

// Balanced split of [0, n) into `parts`; the range of part `idx`.
inline void split(int64_t n, int64_t parts, int64_t idx, int64_t *b, int64_t *e) {
  *b = n * idx / parts;
  *e = n * (idx + 1) / parts;
}

// C = beta * C + bias, without reading A or B (K == 0 or alpha == 0).
void scale_only(const CpuContext &ctx, int64_t M, int64_t N, float beta, const float *bias,
                float *C, int64_t ldc) {
  parallel_for(ctx, M, std::max<int64_t>(1, 65536 / std::max<int64_t>(N, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t i = b; i < e; i++) {
                   float *c = C + i * ldc;
                   for (int64_t j = 0; j < N; j++) {
                     float v = beta == 0.f ? 0.f : beta * c[j];
                     c[j] = bias ? v + bias[j] : v;
                   }
                 }
               });
}

inline void small_m_call(const GemmKernel &kr, int trans_b, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *x, int64_t ldx, const float *b, int64_t ldb,
                         float beta, const float *bias, float *c, int64_t ldc) {
  kr.small_m(trans_b, m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}
inline void small_m_call(const GemmKernel &kr, int trans_b, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *x, int64_t ldx, const uint16_t *b, int64_t ldb,
                         float beta, const float *bias, float *c, int64_t ldc) {
  kr.small_m_bf16(trans_b, m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}

// AVX-512: the decode GEMV kernels of gemv_avx512.cpp (the same bits as small_m_call's, B
// streamed with prefetch, bf16 widened without shuffles); FUSELM_GEMV=0 keeps small_m_call's.
inline bool use_gemv(int isa) {
#if defined(FUSELM_HAVE_X86_SIMD)
  const char *e = std::getenv("FUSELM_GEMV");
  return isa >= FL_ISA_AVX512 && (e == nullptr || e[0] != '0');
#else
  (void)isa;
  return false;
#endif
}
#if defined(FUSELM_HAVE_X86_SIMD)
inline void gemv_call(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                      int64_t ldx, const float *b, int64_t ldb, float beta, const float *bias,
                      float *c, int64_t ldc) {
  gemv::small_m_avx512(trans_b, m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}
inline void gemv_call(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                      int64_t ldx, const uint16_t *b, int64_t ldb, float beta, const float *bias,
                      float *c, int64_t ldc) {
  gemv::small_m_bf16_avx512(trans_b, m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}
#endif

// Small M (M <= kSmallM): no packing of B, threads own 64-column units of N (a multiple of every
// kernel's column tile, so the tiling of each column, hence its arithmetic, is the same for every
// thread count). op(A) is made dense first when transposed (M x K floats, a copy on the caller).
// BT is float, or uint16_t for bf16 weights (fl_sgemm_bf16w).
template <typename BT>
void small_m_driver(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b,
                    int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const BT *B, int64_t ldb, float beta, const float *bias, float *C,
                    int64_t ldc) {
  const float *x = A;
  int64_t ldx = lda;
  if (trans_a) {
    float *xd = tl_scratch.get(size_t(M * K));
    for (int64_t p = 0; p < K; p++)
      for (int64_t i = 0; i < M; i++) xd[i * K + p] = A[p * lda + i];
    x = xd;
    ldx = K;
  }
  constexpr int64_t kUnit = 64;
  const int64_t units = ceil_div(N, kUnit);
  // At least ~256 KiB of B per chunk: a wake-up of the pool costs some microseconds, in which a
  // core streams about that much at memory speed. B (K, N) is read in row runs as wide as a chunk,
  // so there each thread takes one contiguous chunk (longer runs stream better: (1, 768, 3072)
  // would otherwise read 96-column pieces of each row with 2 threads).
  int64_t grain = std::max<int64_t>(1, ceil_div(65536, kUnit * K));
  if (!trans_b) grain = std::max(grain, ceil_div(units, int64_t(std::max(1, ctx.threads))));
  [[maybe_unused]] const bool gemv = use_gemv(ctx.isa);
  parallel_for(ctx, units, grain, [&](int64_t u0, int64_t u1) {
    int64_t j0 = u0 * kUnit, j1 = std::min(N, u1 * kUnit);
#if defined(FUSELM_HAVE_X86_SIMD)
    if (gemv) {
      gemv_call(trans_b, M, j1 - j0, K, alpha, x, ldx, trans_b ? B + j0 * ldb : B + j0, ldb, beta,
                bias ? bias + j0 : nullptr, C + j0, ldc);
      return;
    }
#endif
    small_m_call(kr, trans_b, M, j1 - j0, K, alpha, x, ldx, trans_b ? B + j0 * ldb : B + j0, ldb,
                 beta, bias ? bias + j0 : nullptr, C + j0, ldc);
  });
}

// The packed GEMM (M > kSmallM; any M is correct) with kernel kr. AT, BT: see Gemm.
template <typename AT, typename BT>
void packed_driver(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b,
                   int64_t M, int64_t N, int64_t K, float alpha, const AT *A, int64_t lda,
                   const BT *B, int64_t ldb, float beta, const float *bias, float *C,
                   int64_t ldc, int act = FL_ACT_NONE,
                   const PointwiseKernels *pw = nullptr) {
  Gemm<AT, BT> g{kr, trans_a != 0, trans_b != 0, M, N, K,   alpha, beta,
                 A,  lda,          B,            ldb, bias, C, ldc, act, pw};
#if defined(FUSELM_HAVE_X86_SIMD)
  g.prefetch_b_src = &kr == &avx512_gemm::kernel_for_cpu();
#endif
  const int MR = kr.mr, NR = kr.nr;

  // Even blocks: K = 768 gives 3 x 256 rather than 256 + 256 + 256; N likewise.
  const int64_t nkb = ceil_div(K, kr.kc);
  const int64_t kcb = nkb == 1 ? K : round_up(ceil_div(K, nkb), 8);
  const int64_t njb = ceil_div(N, kr.nc);
  const int64_t ncb = round_up(ceil_div(N, njb), NR);
  const int64_t mp = ceil_div(M, MR);           // MR panels of M
  const int64_t np_blk = ceil_div(ncb, NR);     // NR panels of a full N block

  // Threads and the tm x tn grid.
  double flops = 2.0 * double(M) * double(N) * double(K);
  const int64_t max_t = std::max<int64_t>(
      1, std::min<int64_t>(ctx.threads, int64_t(flops / kMinFlopsPerThread)));
  // Every grid with tm * tn <= max_t, tm <= mp, tn <= np_blk; the cheapest per k step for the most
  // loaded thread wins (so a prime thread count may leave a thread idle rather than split badly).
  int64_t tm = 1, tn = 1;
  double best = -1;
  for (int64_t ctm = 1; ctm <= std::min(max_t, mp); ctm++)
    for (int64_t ctn = 1; ctm * ctn <= max_t && ctn <= np_blk; ctn++) {
      double rows = double(ceil_div(mp, ctm) * MR), cols = double(ceil_div(np_blk, ctn) * NR);
      double cost = 2.0 * rows * cols;  // flops of the most loaded thread
      cost += kPackCost * (rows + (ctm == 1 ? cols : double(ceil_div(np_blk, ctm * ctn) * NR)));
      cost += ctm == 1 ? 0.0 : kRegionCost / double(kcb);  // the shared B-packing region
      // The shared B block is packed in a pass of its own, not group by group just before use, so
      // each thread then reads all of it back from L3: one more pack-like pass over the block.
      // Without this term an odd panel count (the LM head's 81 per N block: 41 + 40 per thread)
      // tipped 2 threads into the row split, measured 275-280 against 355-365 GFLOP/s for the
      // column split on (256, 50257, 768), NN and trans_b (idle 2-core Zen 5; bench gemm).
      cost += ctm == 1 ? 0.0 : kPackCost * double(np_blk * NR);
      if (best < 0 || cost < best) best = cost, tm = ctm, tn = ctn;
    }
  const int64_t T = tm * tn;

  // Scratch: T packed-A blocks, then either T private B slices (tm == 1) or one shared B block.
  const int64_t a_stride = round_up(kr.mc * kcb, 16);
  const int64_t b_slice = round_up(ceil_div(np_blk, T) * NR * kcb, 16);
  const int64_t b_size = tm == 1 ? T * b_slice : round_up(np_blk * NR * kcb, 16);
  float *abuf0 = tl_scratch.get(size_t(T * a_stride + b_size));
  float *bbuf = abuf0 + T * a_stride;

  if (tm == 1) {
    // Column slices: one parallel region, each thread runs its own blocked GEMM on its slice with
    // its own packed B (no thread reads another's buffers, so the K and N loops need no barrier).
    parallel_for(ctx, T, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; t++) {
        float *abuf = abuf0 + t * a_stride;
        float *bslice = bbuf + t * b_slice;
        for (int64_t jc = 0; jc < N; jc += ncb) {
          int64_t nc = std::min(ncb, N - jc);
          int64_t q0, q1;
          split(ceil_div(nc, NR), T, t, &q0, &q1);  // q1 - q0 <= ceil(np_blk / T): fits bslice
          if (q0 >= q1) continue;
          for (int64_t pc = 0; pc < K; pc += kcb) {
            int64_t kc = std::min(kcb, K - pc);
            g.compute(0, mp, q0, q1, jc, nc, pc, kc, bslice, abuf, true);
          }
        }
      }
    });
    return;
  }

  for (int64_t jc = 0; jc < N; jc += ncb) {
    int64_t nc = std::min(ncb, N - jc);
    int64_t np = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < K; pc += kcb) {
      int64_t kc = std::min(kcb, K - pc);
      parallel_for(ctx, np, 4, [&](int64_t q0, int64_t q1) {
        g.pack_b(jc, nc, pc, kc, q0, q1, bbuf + q0 * NR * kc);
      });
      parallel_for(ctx, T, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
          int64_t r0, r1, q0, q1;
          split(mp, tm, t / tn, &r0, &r1);
          split(np, tn, t % tn, &q0, &q1);
          if (r0 < r1 && q0 < q1)
            g.compute(r0, r1, q0, q1, jc, nc, pc, kc, bbuf + q0 * NR * kc, abuf0 + t * a_stride,
                      false);
        }
      });
    }
  }
}

// The calls that multiply nothing (C empty, K == 0 or alpha == 0: A and B are not read) are done
// here; true when C is final.
bool without_product(const CpuContext &ctx, int64_t M, int64_t N, int64_t K, float alpha,
                     float beta, const float *bias, float *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return true;
  if (K <= 0 || alpha == 0.f) {
    scale_only(ctx, M, N, beta, bias, C, ldc);
    return true;
  }
  return false;
}

void gemm_driver(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                 const float *bias, float *C, int64_t ldc) {
  if (without_product(ctx, M, N, K, alpha, beta, bias, C, ldc)) return;
  const GemmKernel &kr = select_kernel(ctx.isa);
  if (M <= small_m_limit()) {
    small_m_driver(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
    return;
  }
  packed_driver(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
}

}  // namespace

// ---- the drivers for gemm_bf16.cpp (gemm_driver.h) ---------------------------------------------

namespace gemm_internal {
const GemmKernel &fp32_kernel(int isa) { return select_kernel(isa); }
const GemmKernel &bf16_kernel(int isa) { return select_bf16_kernel(isa); }
int64_t small_m_rows() { return small_m_limit(); }
float *scratch(size_t floats) { return tl_scratch.get(floats); }
bool no_product(const CpuContext &ctx, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                const float *bias, float *C, int64_t ldc) {
  return without_product(ctx, M, N, K, alpha, beta, bias, C, ldc);
}
void gemm(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
          float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
          const float *bias, float *C, int64_t ldc) {
  gemm_driver(ctx, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
}
template <typename BT>
void small_m(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b, int64_t M,
             int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const BT *B,
             int64_t ldb, float beta, const float *bias, float *C, int64_t ldc) {
  small_m_driver(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc);
}
template <typename AT, typename BT>
void packed(const CpuContext &ctx, const GemmKernel &kr, int trans_a, int trans_b, int64_t M,
            int64_t N, int64_t K, float alpha, const AT *A, int64_t lda, const BT *B, int64_t ldb,
            float beta, const float *bias, float *C, int64_t ldc, int act,
            const PointwiseKernels *pw) {
  packed_driver(ctx, kr, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, bias, C, ldc, act,
                pw);
}
#define FL_GEMM_SMALL_M_(BT)                                                                      \
  template void small_m(const CpuContext &, const GemmKernel &, int, int, int64_t, int64_t,       \
                        int64_t, float, const float *, int64_t, const BT *, int64_t, float,       \
                        const float *, float *, int64_t);
#define FL_GEMM_PACKED_(AT, BT)                                                                   \
  template void packed(const CpuContext &, const GemmKernel &, int, int, int64_t, int64_t,        \
                       int64_t, float, const AT *, int64_t, const BT *, int64_t, float,           \
                       const float *, float *, int64_t, int, const PointwiseKernels *);
FL_GEMM_SMALL_M_(float)
FL_GEMM_SMALL_M_(uint16_t)
FL_GEMM_PACKED_(float, float)
FL_GEMM_PACKED_(uint16_t, uint16_t)
FL_GEMM_PACKED_(RoundedF32, uint16_t)  // fl_gemm_mixed (k-pair kernels only)
FL_GEMM_PACKED_(uint16_t, RoundedF32)
FL_GEMM_PACKED_(RoundedF32, RoundedF32)
#undef FL_GEMM_SMALL_M_
#undef FL_GEMM_PACKED_
}  // namespace gemm_internal


void sgemm(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
           float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
           float *C, int64_t ldc) {
  gemm_driver(ctx, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, nullptr, C, ldc);
}

void sgemm_bias(const CpuContext &ctx, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                const float *A, int64_t lda, const float *B, int64_t ldb, const float *bias,
                float *C, int64_t ldc) {
  gemm_driver(ctx, trans_a, trans_b, M, N, K, 1.f, A, lda, B, ldb, 0.f, bias, C, ldc);
}

// dbias[j] += sum_i dout[i*N + j]: threads own column ranges (no reduction across threads), each
// sums its columns over all rows with vector accumulators.
void bias_backward(const CpuContext &ctx, float *dbias, const float *dout, int64_t M, int64_t N) {
  if (M <= 0 || N <= 0) return;
  const GemmKernel &kr = select_kernel(ctx.isa);
  // Chunks of whole 64-column blocks; enough rows x columns per chunk to pay for a thread.
  int64_t blocks = ceil_div(N, 64);
  int64_t grain = std::max<int64_t>(1, ceil_div(32768, 64 * M));
  parallel_for(ctx, blocks, grain, [&](int64_t b, int64_t e) {
    int64_t j0 = b * 64, j1 = std::min(N, e * 64);
    kr.colsum(dbias + j0, dout + j0, N, M, j1 - j0);
  });
}

}  // namespace cpu
}  // namespace fl
