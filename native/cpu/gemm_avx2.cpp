// GEMM micro-kernel and packing for AVX2 + FMA: a 6 x 16 register tile (12 accumulators, 2 B
// vectors, 1 broadcast A value), 256-bit. Compiled with -mavx2 -mfma; called only after the
// driver (gemm.cpp) has checked ctx.isa >= FL_ISA_AVX2. Everything here sits in
// fl::cpu::avx2_gemm, the kernel bodies in an anonymous namespace (see gemm_x86_impl.h).
#include "x86_intrin.h"

#include <cstdint>

#include "gemm_kernels.h"

namespace fl {
namespace cpu {
namespace avx2_gemm {
namespace {

struct Vec {
  using T = __m256;
  static constexpr int W = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float *p) { return _mm256_loadu_ps(p); }
  // 8 bf16 -> float32: zero-extend to 32 bits, shift into the high half
  static T load(const uint16_t *p) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static T bcast(const float *p) { return _mm256_broadcast_ss(p); }
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static float hsum(T x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static void store(float *p, T x) { _mm256_storeu_ps(p, x); }
};

#include "gemm_x86_impl.h"
#include "gemm_small_impl.h"

constexpr int kMR = 6;
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

// The AVX-512 kernel's layout (8 x 48 tile, 8-row A panels, 48-column B panels, its blocking)
// run with 256-bit vectors: lets the tests exercise that packing and blocking on AVX2 machines
// (48 accumulators: GCC spills, which only costs time in this test aid).
void micro_8x48(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                float beta, const float *bias) {
  micro_kernel_t<8, 6>(kc, a, b, c, ldc, alpha, beta, bias);
}
void pack_a_8(const float *a, int64_t lda, int trans, int64_t panels, int64_t kc, float *dst) {
  pack_a_t<8>(a, lda, trans, panels, kc, dst);
}
void pack_b_48(const float *b, int64_t ldb, int trans, int64_t panels, int64_t kc, float *dst) {
  pack_b_t<48>(b, ldb, trans, panels, kc, dst);
}
void pack_a_8_bf16(const uint16_t *a, int64_t lda, int trans, int64_t panels, int64_t kc,
                   float *dst) {
  pack_a_t<8>(a, lda, trans, panels, kc, dst);
}
void pack_b_48_bf16(const uint16_t *b, int64_t ldb, int trans, int64_t panels, int64_t kc,
                    float *dst) {
  pack_b_t<48>(b, ldb, trans, panels, kc, dst);
}

}  // namespace

// Blocking for a 32 KiB L1d / 512 KiB+ L2 (Zen 2/3, Haswell..Alder Lake): a B micro-panel is
// 16 x 256 floats = 16 KiB (L1), the packed A block 144 x 256 floats = 144 KiB (L2), the packed
// B block 256 x 4096 floats = 4 MiB (L3).
extern const gemm_detail::GemmKernel kKernel = {"avx2 6x16", kMR, kNR, 144, 256, 4096,
                                                micro, pack_a, pack_b, colsum, small_m,
                                                small_m_bf16, pack_a_bf16, pack_b_bf16, false};
extern const gemm_detail::GemmKernel kKernelAvx512Layout = {
    "avx2 8x48 (avx512 layout)", 8, 48, 256, 192, 4096, micro_8x48, pack_a_8, pack_b_48, colsum,
    small_m, small_m_bf16, pack_a_8_bf16, pack_b_48_bf16, false};

}  // namespace avx2_gemm
}  // namespace cpu
}  // namespace fl
