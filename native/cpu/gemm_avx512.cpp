// GEMM micro-kernel and packing for AVX-512: a 12 x 32 register tile (24 accumulators, 2 B vectors,
// 1 broadcast A value), 512-bit. The same code as the AVX2 path (gemm_x86_impl.h, instantiated
// with 16-float vectors); packing uses the shared 256-bit routines. Compiled with AVX-512 F/BW/VL/DQ
// flags; called only after the driver (gemm.cpp) has checked ctx.isa >= FL_ISA_AVX512.
#include "x86_intrin.h"

#include <cstdint>

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
  static float hsum(T x) {
    __m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, x, 0), _mm512_maskz_extractf32x8_ps(0xFF, x, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static void store(float *p, T x) { _mm512_storeu_ps(p, x); }
};

#include "gemm_x86_impl.h"
#include "gemm_small_impl.h"

constexpr int kMR = 12;
constexpr int kNV = 2;
constexpr int kNR = kNV * Vec::W;

void micro(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
           float beta, const float *bias) {
  micro_kernel_t<kMR, kNV>(kc, a, b, c, ldc, alpha, beta, bias);
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

// A B micro-panel is 32 x 192 floats = 24 KiB (fits a 32 or 48 KiB L1d), the packed A block
// 240 x 192 floats = 180 KiB (L2 is 1-2 MiB on AVX-512 parts), the B block 192 x 4096 = 3 MiB.
extern const gemm_detail::GemmKernel kKernel = {"avx512 12x32", kMR, kNR, 240, 192, 4096,
                                                micro, pack_a, pack_b, colsum, small_m,
                                                small_m_bf16, pack_a_bf16, pack_b_bf16, false};

}  // namespace avx512_gemm
}  // namespace cpu
}  // namespace fl
