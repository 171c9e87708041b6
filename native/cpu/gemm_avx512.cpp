// GEMM micro-kernel and packing for AVX-512: an 8 x 48 register tile (24 accumulators, 3 B vectors,
// 1 broadcast A value), 512-bit, with a software prefetch of the A panel. The same code as the AVX2 path (gemm_x86_impl.h, instantiated
// with 16-float vectors); packing uses the shared 256-bit routines. Compiled with AVX-512 F/BW/VL/DQ
// flags; called only after the driver (gemm.cpp) has checked ctx.isa >= FL_ISA_AVX512.
#include "x86_intrin.h"

#include "avx512_hsum.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "gemm_kernels.h"

namespace fl {
namespace cpu {
namespace avx512_gemm {
namespace {

struct Vec {
  using T = __m512;
  static constexpr int W = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float *p) { return _mm512_loadu_ps(p); }
  // 16 bf16 -> float32: zero-extend to 32 bits, shift into the high half (the maskz forms with a
  // full mask: GCC 12 warns about the undefined source operand of the unmasked intrinsics)
  static T load(const uint16_t *p) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
    __m512i w = _mm512_maskz_cvtepu16_epi32(0xFFFF, h);
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, w, 16));
  }
  static T bcast(const float *p) { return _mm512_set1_ps(*p); }
  static T set1(float x) { return _mm512_set1_ps(x); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static float hsum(T x) { return fl_hsum512(x); }
  static void store(float *p, T x) { _mm512_storeu_ps(p, x); }
};

#include "gemm_x86_impl.h"
#include "gemm_small_impl.h"

constexpr int kMR = 8;
constexpr int kNV = 3;
constexpr int kNR = kNV * Vec::W;
constexpr int kPF = 192;

void micro(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
           float beta, const float *bias) {
  micro_kernel_t<kMR, kNV, kPF>(kc, a, b, c, ldc, alpha, beta, bias);
}
void pack_a(const float *a, int64_t lda, int trans, int64_t panels, int64_t kc, float *dst) {
  pack_a_t<kMR>(a, lda, trans, panels, kc, dst);
}
void pack_b(const float *b, int64_t ldb, int trans, int64_t panels, int64_t kc, float *dst) {
  pack_b_t<kNR>(b, ldb, trans, panels, kc, dst);
}
void pack_a_bf16(const uint16_t *a, int64_t lda, int trans, int64_t panels, int64_t kc,
                 float *dst) {
  pack_a_t<kMR>(a, lda, trans, panels, kc, dst);
}
void pack_b_bf16(const uint16_t *b, int64_t ldb, int trans, int64_t panels, int64_t kc,
                 float *dst) {
  pack_b_t<kNR>(b, ldb, trans, panels, kc, dst);
}
void colsum(float *dbias, const float *dout, int64_t ld, int64_t m, int64_t n) {
  colsum_impl(dbias, dout, ld, m, n);
}
void small_m(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x, int64_t ldx,
             const float *b, int64_t ldb, float beta, const float *bias, float *c, int64_t ldc) {
  small_m_impl(trans_b, m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}
void small_m_bf16(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                  int64_t ldx, const uint16_t *b, int64_t ldb, float beta, const float *bias,
                  float *c, int64_t ldc) {
  small_m_impl(trans_b, m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}

}  // namespace

// A B micro-panel is 48 x 192 floats = 36 KiB (of a 48 KiB L1d: Zen 5, Ice Lake and later; Zen 4
// has 32 KiB and gets kc 128 from kernel_for_cpu), the
// packed A block 256 x 192 floats = 192 KiB (L2 is 1-2 MiB on AVX-512 parts), the B block
// 192 x 4096 = 3 MiB.
//
// Measured on a 2-core AMD EPYC with full-width 512-bit units (Zen 5 flags: avx512_vp2intersect;
// 48 KiB L1d, 1 MiB L2), one thread, CPU time, under a load average of 12-20. With its panels in
// cache (benchmarks/gemm/micro_kernel_peak.cpp) every tile with 24-28 accumulators (12 x 32,
// 8 x 48, 6 x 64, 14 x 32) runs at the FMA peak, ~219 GFLOP/s; 16 x 16 at 92% of it. In whole
// GEMMs alternating with OpenBLAS 0.3.21 (benchmarks/gemm/cpu_time_compare.cpp) 8 x 48 beat 12 x 32
// by 2-6% on the M = 256 shapes (256 = 32 x 8: no zero-padded 12-row edge panel, 3% of the work),
// and 16 x 16 was 5-10% slower than both. kc 128 and 192 were within the noise. One row block for
// M = 256 (mc 264 for 12 x 32, now 256 for 8 x 48: B micro-panels are not re-read from L3 for a
// second, small row block) gained 5-10% over mc 240 (20 + 2 panels). The A-panel prefetch (PF,
// floats ahead) 0-4%.
// On Zen 4 (512-bit instructions on 256-bit units: half the FMA rate, the same registers) the
// same tile needs only 8 independent accumulators in flight, so the choice is made by the cache
// sizes rather than the datapath: kernel_for_cpu (below) sizes kc from the L1d read at start.
extern const gemm_detail::GemmKernel kKernel = {"avx512 8x48", kMR, kNR, 256, 192, 4096,
                                                micro, pack_a, pack_b, colsum, small_m,
                                                small_m_bf16, pack_a_bf16, pack_b_bf16, false};

// The kernel the driver runs at the AVX-512 level, chosen once per process: kKernel with kc sized
// to this CPU's L1d, so that a B micro-panel (48 x kc floats) takes three quarters of it: kc 192
// for 48 KiB (Zen 5, Ice Lake and later: kKernel's own), 128 for 32 KiB (Zen 4, Skylake-X),
// between 128 and 256 otherwise. Everything else is the same on every AVX-512 CPU: the 8 x 48
// tile keeps 24 independent FMA chains, enough for two 512-bit pipes (Zen 5, Intel) and for the
// double-pumped 256-bit units of Zen 4 alike, and mc 256 x kc fits every AVX-512 part's L2 (1-2
// MiB). FUSELM_GEMM_BLOCKING=mc,kc,nc (a measurement aid) replaces the cache blocks; mc must be a
// multiple of MR, nc of NR. The result depends on kc (the K blocking), never on the thread count.
const gemm_detail::GemmKernel &kernel_for_cpu() {
  static const gemm_detail::GemmKernel chosen = [] {
    gemm_detail::GemmKernel k = kKernel;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    const long l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    if (l1d >= 16384) {
      long kc = l1d * 3 / 4 / (k.nr * long(sizeof(float))) / 8 * 8;
      k.kc = kc < 128 ? 128 : kc > 256 ? 256 : kc;
    }
#endif
    const char *e = std::getenv("FUSELM_GEMM_BLOCKING");
    long mc = 0, kc = 0, nc = 0;
    if (e != nullptr && std::sscanf(e, "%ld,%ld,%ld", &mc, &kc, &nc) == 3 && mc > 0 &&
        mc % k.mr == 0 && kc >= 8 && nc > 0 && nc % k.nr == 0) {
      k.mc = mc;
      k.kc = kc;
      k.nc = nc;
    }
    return k;
  }();
  return chosen;
}

}  // namespace avx512_gemm
}  // namespace cpu
}  // namespace fl
