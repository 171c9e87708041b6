// GEMM building blocks shared by the driver (gemm.cpp, baseline x86-64) and the ISA-specific files
// (gemm_avx2.cpp, gemm_avx512.cpp). Declarations and plain data only: no inline function or template
// lives here, so nothing compiled with AVX flags can be picked by the linker for a baseline caller.
//
// The design is BLIS/GotoBLAS's. op(A) (M x K) and op(B) (K x N) are copied ("packed") into
// contiguous buffers, the transposes absorbed in the copy:
//   packed A: panels of MR rows; panel q holds op(A)(q*MR + r, p) at [q*MR*kc + p*MR + r]
//   packed B: panels of NR columns; panel q holds op(B)(p, q*NR + c) at [q*NR*kc + p*NR + c]
// and a register-blocked micro-kernel multiplies one A panel by one B panel into an MR x NR tile of C.
// The driver blocks K by kc (a B micro-panel stays in L1), M by mc (the packed A block stays in L2)
// and N by nc (the packed B block stays in L3).
#pragma once

#include <cstdint>

namespace fl {
namespace cpu {
namespace gemm_detail {

// C tile (MR x NR, row stride ldc) = alpha * sum_p a[p*MR + r] * b[p*NR + c]
//                                    + (beta != 0 ? beta * C : 0)   -- C is not read when beta == 0
//                                    + (bias ? bias[c] : 0)
using MicroKernelFn = void (*)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                               float alpha, float beta, const float *bias);
// Packs `panels` full A panels: rows [0, panels*MR) x cols [0, kc) of op(A), where op(A)(i, p) is
// a[i*lda + p], or a[p*lda + i] when trans.
using PackAFn = void (*)(const float *a, int64_t lda, int trans, int64_t panels, int64_t kc,
                         float *dst);
// Packs `panels` full B panels: rows [0, kc) x cols [0, panels*NR) of op(B), where op(B)(p, j) is
// b[p*ldb + j], or b[j*ldb + p] when trans.
using PackBFn = void (*)(const float *b, int64_t ldb, int trans, int64_t panels, int64_t kc,
                         float *dst);
// dbias[j] += sum over i < m of dout[i*ld + j], for j < n.
using ColSumFn = void (*)(float *dbias, const float *dout, int64_t ld, int64_t m, int64_t n);
// The small-M path (gemm_small_impl.h), no packing: C(m, n) = alpha * X op(B) (+ beta C) (+ bias)
// for m <= kSmallM, X (m, k) dense with row stride ldx, op(B)(p, j) = b[j*ldb + p] when trans_b,
// else b[p*ldb + j]. C is not read when beta == 0.
using SmallMFn = void (*)(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                          int64_t ldx, const float *b, int64_t ldb, float beta, const float *bias,
                          float *c, int64_t ldc);
// The same with B in bf16 (uint16_t, the high half of a float32; widened exactly before use).
using SmallMBf16Fn = void (*)(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                              const float *x, int64_t ldx, const uint16_t *b, int64_t ldb,
                              float beta, const float *bias, float *c, int64_t ldc);

// d[i] = the bf16 rounding of s[i] (to nearest, ties to even, NaN kept quiet), i < n.
using RoundFn = void (*)(const float *s, uint16_t *d, int64_t n);
// count rows (A) or columns (B) x kc k into w-wide k-pair panels (the last zero-padded) from a
// float32 source laid out k-major (element (x, p) at s[p*ld + x]), each value rounded as RoundFn
// does; d as pack_pairs_a/b.
using KMajorPanelFn = void (*)(const float *s, int64_t ld, int64_t count, int64_t kc, int w,
                               uint16_t *d);
// A level's vectorised rounding for the k-pair packers of float32 sources (fl_gemm_mixed).
struct F32PairPacking {
  RoundFn round;               // runs of values (rounded into a tile, then transposed in pairs)
  KMajorPanelFn kmajor_panels;  // k-major sources rounded straight into place
};

// The packers above from bf16 sources (uint16_t, widened exactly as they are read): fl_gemm_bf16.
using PackABf16Fn = void (*)(const uint16_t *a, int64_t lda, int trans, int64_t panels, int64_t kc,
                             float *dst);
using PackBBf16Fn = void (*)(const uint16_t *b, int64_t ldb, int trans, int64_t panels, int64_t kc,
                             float *dst);

// k-pair kernels (AVX512_BF16's vdpbf16ps, and its portable emulation): A and B stay bf16 in the
// packed panels, two consecutive k per 32-bit word, kp = ceil(kc / 2) words per row / column:
//   packed A: panel q holds op(A)(q*MR + r, 2*pp + h) at uint16 [(q*MR*kc) * 2 + (pp*MR + r)*2 + h]
//   packed B: panel q holds op(B)(2*pp + h, q*NR + c) at uint16 [(q*NR*kc) * 2 + (pp*NR + c)*2 + h]
// (h = 0, 1; the k beyond kc of an odd kc is zero). A panel takes MR * kp 32-bit words, at most the
// MR * kc floats the driver reserves for it, so the driver's float-sized buffers and panel offsets
// serve unchanged; `micro` reads its `a` and `b` as such pairs. Packed by pack_pairs_a/b
// (gemm_bf16_pairs.cpp, portable code), so pack_a, pack_b, pack_a_bf16 and pack_b_bf16 are null.

struct GemmKernel {
  const char *name;
  int mr, nr;          // register tile
  int64_t mc, kc, nc;  // cache blocks (mc a multiple of mr, nc of nr)
  MicroKernelFn micro;
  PackAFn pack_a;
  PackBFn pack_b;
  ColSumFn colsum;
  SmallMFn small_m;
  SmallMBf16Fn small_m_bf16;
  PackABf16Fn pack_a_bf16;
  PackBBf16Fn pack_b_bf16;
  bool k_pairs;  // the k-pair layout above (bf16 operands only)
};

// The k-pair packers: `rows` (<= panels of MR, the last one zero-padded) rows x kc of op(A) from
// a bf16 A, where op(A)(i, p) is a[i*lda + p], or a[p*lda + i] when trans; likewise `cols` columns
// of op(B) into NR panels, op(B)(p, j) = b[p*ldb + j], or b[j*ldb + p] when trans. dst as above.
void pack_pairs_a(const uint16_t *a, int64_t lda, int trans, int64_t rows, int64_t kc, int mr,
                  float *dst);
void pack_pairs_b(const uint16_t *b, int64_t ldb, int trans, int64_t cols, int64_t kc, int nr,
                  float *dst);
// The same from a float32 source, each value rounded to bf16 (to nearest, ties to even, exactly as
// fl_f32_to_bf16) as it is packed: the panels are bit for bit pack_pairs_a/b's of the rounded
// operand (fl_gemm_mixed).
// vec: the level's vectorised rounding (avx512bf16_gemm::kF32PairPacking), null: portable code.
void pack_pairs_a_f32(const float *a, int64_t lda, int trans, int64_t rows, int64_t kc, int mr,
                      const F32PairPacking *vec, float *dst);
void pack_pairs_b_f32(const float *b, int64_t ldb, int trans, int64_t cols, int64_t kc, int nr,
                      const F32PairPacking *vec, float *dst);
// The k-pair kernel in plain C++ with vdpbf16ps's arithmetic (gemm_bf16_pairs.cpp): the same 12 x 32
// tile, layout and blocking as the AVX512_BF16 kernel, so this machine-independent code tests all of
// that path but the intrinsic inner loop. Selected for fl_gemm_bf16 below AVX512_BF16 by
// FUSELM_GEMM_BF16_PAIRS=1 (a test aid).
extern const GemmKernel kBf16PairsEmulated;
// The portable 4 x 8 kernel (gemm_generic.cpp): no x86 SIMD level, or not an x86 build.
extern const GemmKernel kGenericKernel;

}  // namespace gemm_detail

#if defined(FUSELM_HAVE_X86_SIMD)
namespace avx2_gemm {
extern const gemm_detail::GemmKernel kKernel;  // 6 x 16 tile, 256-bit FMA
// The AVX-512 kernel's tile, panels and blocking with 256-bit vectors (a test aid, see gemm.cpp).
extern const gemm_detail::GemmKernel kKernelAvx512Layout;
}
namespace avx512_gemm {
extern const gemm_detail::GemmKernel kKernel;  // 8 x 48 tile, 512-bit FMA
const gemm_detail::GemmKernel &kernel_for_cpu();  // the one fl_sgemm runs (gemm_avx512.cpp)
}
namespace avx512bf16_gemm {
extern const gemm_detail::GemmKernel kKernel;  // 12 x 32 tile, vdpbf16ps on k pairs (bf16 only)
// f32_to_bf16_rne's bits in AVX-512 integer arithmetic: the k-pair packers of float32 sources
extern const gemm_detail::F32PairPacking kF32PairPacking;
}
#endif

}  // namespace cpu
}  // namespace fl
