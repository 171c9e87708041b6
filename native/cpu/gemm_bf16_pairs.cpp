// fl_gemm_bf16's k-pair path (see gemm_kernels.h for the layout): the packers, shared by every k-pair
// kernel, and the portable emulation of the AVX512_BF16 micro-kernel (gemm_avx512bf16.cpp). Compiled
// for baseline x86-64 (or any architecture); the driver is gemm.cpp's packed_driver.
//
// vdpbf16ps (Intel SDM, VDPBF16PS), per 32-bit lane i of the destination:
//   dst.fp32[i] += fp32(src1.bf16[2i+1]) * fp32(src2.bf16[2i+1])
//   dst.fp32[i] += fp32(src1.bf16[2i])   * fp32(src2.bf16[2i])
// each step a float32 fused multiply-add with denormal inputs read as zero (DAZ), denormal results
// flushed to zero (FTZ) and round-to-nearest-even, whatever MXCSR says. So a pair costs two roundings,
// the odd k first, exactly as a float32 FMA chain over k in the order (1, 0, 3, 2, ...) would, apart
// from DAZ/FTZ. The emulation below computes the same steps: the product of two bf16 values has at
// most 16 significant bits, so the float32 product is exact (unless it falls below the normal range,
// where it may lose bits the hardware keeps: an absolute difference under 2^-126 per product), and
// the float32 add is then the FMA's one rounding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bf16.h"
#include "gemm_kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace fl {
namespace cpu {
namespace gemm_detail {

namespace {

// One panel of `n` <= w valid rows (A) or columns (B) of width w, zero-padded to w; the packing of A
// and of B is the same operation on op(A) and op(B)^T. `contig`: element (x, p) is s[x*ld + p] (a
// row of s holds x's k pairs side by side); else s[p*ld + x] (a pair comes from two rows of s).
// The full pairs run without per-element conditions (loops the compiler vectorises), then the odd
// kc's last k and the padding.
void pack_pairs_panel(const uint16_t *s, int64_t ld, bool contig, int64_t n, int64_t kc, int w,
                      uint16_t *d) {
  const int64_t kfull = kc / 2, kp = (kc + 1) / 2;
  if (contig) {
    // A pair is one 32-bit word at s + x*ld + 2*pp going to word pp*w + x: a transpose of words,
    // done in 4 x 4 blocks (SSE2, the x86-64 baseline) where whole blocks fit; measured 1.1-1.3x
    // on whole fl_gemm_bf16 calls with both operands packed this way (the "fwd" layout, A (M, K),
    // B (N, K)) against copying the halves one by one.
    int64_t x0 = 0;
#if defined(__SSE2__)
    for (; x0 + 4 <= n; x0 += 4) {
      int64_t pp = 0;
      for (; pp + 4 <= kfull; pp += 4) {
        __m128 r0 = _mm_loadu_ps(reinterpret_cast<const float *>(s + (x0 + 0) * ld + 2 * pp));
        __m128 r1 = _mm_loadu_ps(reinterpret_cast<const float *>(s + (x0 + 1) * ld + 2 * pp));
        __m128 r2 = _mm_loadu_ps(reinterpret_cast<const float *>(s + (x0 + 2) * ld + 2 * pp));
        __m128 r3 = _mm_loadu_ps(reinterpret_cast<const float *>(s + (x0 + 3) * ld + 2 * pp));
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // moves bits only: bf16 pairs stay as they are
        _mm_storeu_ps(reinterpret_cast<float *>(d + ((pp + 0) * w + x0) * 2), r0);
        _mm_storeu_ps(reinterpret_cast<float *>(d + ((pp + 1) * w + x0) * 2), r1);
        _mm_storeu_ps(reinterpret_cast<float *>(d + ((pp + 2) * w + x0) * 2), r2);
        _mm_storeu_ps(reinterpret_cast<float *>(d + ((pp + 3) * w + x0) * 2), r3);
      }
      for (int64_t x = x0; x < x0 + 4; x++)
        for (int64_t q = pp; q < kfull; q++) std::memcpy(d + (q * w + x) * 2, s + x * ld + 2 * q, 4);
    }
#endif
    for (int64_t x = x0; x < n; x++) {
      const uint16_t *sx = s + x * ld;
      for (int64_t pp = 0; pp < kfull; pp++) {
        d[(pp * w + x) * 2] = sx[2 * pp];
        d[(pp * w + x) * 2 + 1] = sx[2 * pp + 1];
      }
    }
    for (int64_t x = 0; x < n; x++) {
      const uint16_t *sx = s + x * ld;
      if (kp > kfull) {
        d[(kfull * w + x) * 2] = sx[kc - 1];
        d[(kfull * w + x) * 2 + 1] = 0;
      }
    }
  } else {
    for (int64_t pp = 0; pp < kfull; pp++) {
      const uint16_t *s0 = s + 2 * pp * ld, *s1 = s0 + ld;
      uint16_t *dp = d + pp * w * 2;
      int64_t x = 0;
#if defined(__SSE2__)
      for (; x + 8 <= n; x += 8) {  // interleave 8 values of two rows (SSE2)
        __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s0 + x));
        __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(s1 + x));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(dp + 2 * x), _mm_unpacklo_epi16(v0, v1));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(dp + 2 * x + 8), _mm_unpackhi_epi16(v0, v1));
      }
#endif
      for (; x < n; x++) {
        dp[2 * x] = s0[x];
        dp[2 * x + 1] = s1[x];
      }
    }
    if (kp > kfull) {
      const uint16_t *s0 = s + (kc - 1) * ld;
      uint16_t *dp = d + kfull * w * 2;
      for (int64_t x = 0; x < n; x++) {
        dp[2 * x] = s0[x];
        dp[2 * x + 1] = 0;
      }
    }
  }
  if (n < w)
    for (int64_t pp = 0; pp < kp; pp++)
      std::memset(d + (pp * w + n) * 2, 0, size_t(w - n) * 2 * sizeof(uint16_t));
}

}  // namespace

// A's panels: op(A)(i, p) is a[i*lda + p] (trans == 0) or a[p*lda + i] (trans).
void pack_pairs_a(const uint16_t *a, int64_t lda, int trans, int64_t rows, int64_t kc, int mr,
                  float *dst) {
  uint16_t *d = reinterpret_cast<uint16_t *>(dst);
  for (int64_t q = 0; q * mr < rows; q++)  // the driver's panel stride: mr * kc floats
    pack_pairs_panel(trans ? a + q * mr : a + q * mr * lda, lda, !trans,
                     std::min<int64_t>(mr, rows - q * mr), kc, mr, d + q * mr * kc * 2);
}

// B's panels: op(B)(p, j) is b[j*ldb + p] (trans) or b[p*ldb + j] (trans == 0).
void pack_pairs_b(const uint16_t *b, int64_t ldb, int trans, int64_t cols, int64_t kc, int nr,
                  float *dst) {
  uint16_t *d = reinterpret_cast<uint16_t *>(dst);
  for (int64_t q = 0; q * nr < cols; q++)
    pack_pairs_panel(trans ? b + q * nr * ldb : b + q * nr, ldb, trans != 0,
                     std::min<int64_t>(nr, cols - q * nr), kc, nr, d + q * nr * kc * 2);
}

namespace {

// A float32 source is rounded into a small bf16 tile in this thread's L1 (at most 16 KiB at a time,
// laid out as the source), in runs as long as the source allows (the vectorised RoundFn of the
// level where there is one), then packed from there by pack_pairs_panel, as a bf16 source would be.
// contig (a panel's values x-major, k contiguous): one panel of kc values per row at a time; else
// (k-major: each k row holds the block's rows or columns side by side) chunks of k rows across the
// whole block, an even number of k at a time so that no pair straddles two chunks.
thread_local std::vector<uint16_t> tl_tile;  // freed at thread exit

uint16_t *tile(size_t n) {
  if (tl_tile.size() < n) tl_tile.resize(n);
  return tl_tile.data();
}

void round_portable(const float *__restrict s, uint16_t *__restrict d, int64_t n) {
  for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16_rne(s[i]);
}

// `count` (<= panels of w, the last zero-padded) rows (A) or columns (B) x kc from a float32 s:
// element (x, p) at s[x*ld + p] when contig, else s[p*ld + x]; panels at dst as pack_pairs_a/b.
void pack_pairs_f32(const float *s, int64_t ld, bool contig, int64_t count, int64_t kc, int w,
                    const F32PairPacking *vec, uint16_t *d) {
  const RoundFn round = vec ? vec->round : round_portable;
  if (contig) {
    uint16_t *t = tile(size_t(w) * size_t(kc));
    for (int64_t q = 0; q * w < count; q++) {
      const int64_t n = std::min<int64_t>(w, count - q * w);
      for (int64_t x = 0; x < n; x++) round(s + (q * w + x) * ld, t + x * kc, kc);
      pack_pairs_panel(t, kc, true, n, kc, w, d + q * w * kc * 2);
    }
    return;
  }
  if (vec != nullptr) {
    vec->kmajor_panels(s, ld, count, kc, w, d);
    return;
  }
  const int64_t chunk = std::max<int64_t>(2, (8192 / std::max<int64_t>(count, 1)) & ~int64_t(1));
  uint16_t *t = tile(size_t(chunk) * size_t(count));
  for (int64_t p0 = 0; p0 < kc; p0 += chunk) {
    const int64_t kn = std::min(chunk, kc - p0);
    for (int64_t p = 0; p < kn; p++) round(s + (p0 + p) * ld, t + p * count, count);
    for (int64_t q = 0; q * w < count; q++)
      pack_pairs_panel(t + q * w, count, false, std::min<int64_t>(w, count - q * w), kn, w,
                       d + q * w * kc * 2 + (p0 / 2) * w * 2);
  }
}

}  // namespace

void pack_pairs_a_f32(const float *a, int64_t lda, int trans, int64_t rows, int64_t kc, int mr,
                      const F32PairPacking *vec, float *dst) {
  pack_pairs_f32(a, lda, !trans, rows, kc, mr, vec, reinterpret_cast<uint16_t *>(dst));
}

void pack_pairs_b_f32(const float *b, int64_t ldb, int trans, int64_t cols, int64_t kc, int nr,
                      const F32PairPacking *vec, float *dst) {
  pack_pairs_f32(b, ldb, trans != 0, cols, kc, nr, vec, reinterpret_cast<uint16_t *>(dst));
}

namespace {

constexpr int kMR = 12;  // the AVX512_BF16 kernel's tile (gemm_avx512bf16.cpp)
constexpr int kNR = 32;

// DAZ on an input, FTZ on a result: a denormal becomes a zero of the same sign.
inline float flush(float x) { return std::fabs(x) < 1.17549435e-38f ? x * 0.f : x; }
inline float in_bf16(uint16_t h) { return flush(bf16_to_f32(h)); }

void emulated_micro(int64_t kc, const float *a_f, const float *b_f, float *c, int64_t ldc,
                    float alpha, float beta, const float *bias) {
  const uint16_t *a = reinterpret_cast<const uint16_t *>(a_f);
  const uint16_t *b = reinterpret_cast<const uint16_t *>(b_f);
  float acc[kMR][kNR] = {};
  const int64_t kp = (kc + 1) / 2;
  for (int64_t pp = 0; pp < kp; pp++, a += 2 * kMR, b += 2 * kNR) {
    float b_even[kNR], b_odd[kNR];
    for (int j = 0; j < kNR; j++) {
      b_even[j] = in_bf16(b[2 * j]);
      b_odd[j] = in_bf16(b[2 * j + 1]);
    }
    for (int r = 0; r < kMR; r++) {
      const float a_even = in_bf16(a[2 * r]), a_odd = in_bf16(a[2 * r + 1]);
      for (int j = 0; j < kNR; j++) {
        float x = flush(acc[r][j] + a_odd * b_odd[j]);  // the odd k first, as vdpbf16ps
        acc[r][j] = flush(x + a_even * b_even[j]);
      }
    }
  }
  // the fp32 kernels' write-back (gemm_x86_impl.h)
  for (int r = 0; r < kMR; r++) {
    float *cr = c + r * ldc;
    for (int j = 0; j < kNR; j++) {
      float x = alpha == 1.f ? acc[r][j] : alpha * acc[r][j];
      if (beta != 0.f) x += beta * cr[j];
      if (bias) x += bias[j];
      cr[j] = x;
    }
  }
}

}  // namespace

// Blocking as gemm_avx512bf16.cpp's. Only the packed GEMM uses a k-pair kernel: no fp32 packers,
// column sum or small-M kernels (gemm.cpp takes those from the fp32 kernel of the level).
extern const GemmKernel kBf16PairsEmulated = {
    "bf16 k-pairs 12x32 (portable vdpbf16ps emulation)",
    kMR,
    kNR,
    264,
    384,
    4096,
    emulated_micro,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    true};

}  // namespace gemm_detail
}  // namespace cpu
}  // namespace fl
