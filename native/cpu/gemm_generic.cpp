// The portable GEMM kernel (gemm_kernels.h's kGenericKernel): a 4 x 8 register tile in plain C++,
// its packers, the column sum, and the small-M path (gemm_small_impl.h) over 8-float arrays. The
// driver (gemm.cpp) runs it where no x86 SIMD level applies. Compiled for the baseline target.
#include <algorithm>
#include <cstdint>

#include "bf16.h"
#include "gemm_kernels.h"

namespace fl {
namespace cpu {
namespace gemm_detail {
namespace {

constexpr int kGenMR = 4;
constexpr int kGenNR = 8;

void generic_micro(int64_t kc, const float *__restrict a, const float *__restrict b, float *c,
                   int64_t ldc, float alpha, float beta, const float *bias) {
  float acc[kGenMR][kGenNR] = {};
  for (int64_t p = 0; p < kc; p++, a += kGenMR, b += kGenNR)
    for (int r = 0; r < kGenMR; r++)
      for (int j = 0; j < kGenNR; j++) acc[r][j] += a[r] * b[j];
  for (int r = 0; r < kGenMR; r++) {
    float *cr = c + r * ldc;
    for (int j = 0; j < kGenNR; j++) {
      float x = alpha * acc[r][j];
      if (beta != 0.f) x += beta * cr[j];
      if (bias) x += bias[j];
      cr[j] = x;
    }
  }
}

inline float as_f32(float v) { return v; }
inline float as_f32(uint16_t v) { return bf16_to_f32(v); }

// Full panels only (the driver packs edge panels itself): A panel q holds op(A)(q*MR + r, p) at
// [q*MR*kc + p*MR + r], B panel q holds op(B)(p, q*NR + c) at [q*NR*kc + p*NR + c].
template <typename T>
void generic_pack_a(const T *a, int64_t lda, int trans, int64_t panels, int64_t kc, float *dst) {
  for (int64_t q = 0; q < panels; q++, dst += kGenMR * kc)
    for (int64_t p = 0; p < kc; p++)
      for (int r = 0; r < kGenMR; r++) {
        int64_t i = q * kGenMR + r;
        dst[p * kGenMR + r] = as_f32(trans ? a[p * lda + i] : a[i * lda + p]);
      }
}

template <typename T>
void generic_pack_b(const T *b, int64_t ldb, int trans, int64_t panels, int64_t kc, float *dst) {
  for (int64_t q = 0; q < panels; q++, dst += kGenNR * kc)
    for (int64_t p = 0; p < kc; p++)
      for (int c = 0; c < kGenNR; c++) {
        int64_t j = q * kGenNR + c;
        dst[p * kGenNR + c] = as_f32(trans ? b[j * ldb + p] : b[p * ldb + j]);
      }
}

void generic_colsum(float *dbias, const float *dout, int64_t ld, int64_t m, int64_t n) {
  constexpr int64_t kBlock = 64;  // column block kept in a local array (vectorised by the compiler)
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
    int64_t w = std::min(kBlock, n - j0);
    float s[kBlock] = {};
    for (int64_t i = 0; i < m; i++) {
      const float *row = dout + i * ld + j0;
      for (int64_t j = 0; j < w; j++) s[j] += row[j];
    }
    for (int64_t j = 0; j < w; j++) dbias[j0 + j] += s[j];
  }
}

// The small-M path (gemm_small_impl.h) over 8-float "vectors" of plain arrays: the compiler maps
// them onto the baseline's SSE registers.
struct Vec {
  struct T {
    float v[8];
  };
  static constexpr int W = 8;
  static T zero() { return T{}; }
  static T load(const float *p) {
    T r;
    for (int l = 0; l < W; l++) r.v[l] = p[l];
    return r;
  }
  static T load(const uint16_t *p);  // after gemm_small_impl.h's b_value
  static T set1(float x) {
    T r;
    for (int l = 0; l < W; l++) r.v[l] = x;
    return r;
  }
  static T fma(T a, T b, T c) {
    for (int l = 0; l < W; l++) c.v[l] += a.v[l] * b.v[l];
    return c;
  }
  static T mul(T a, T b) {
    for (int l = 0; l < W; l++) a.v[l] *= b.v[l];
    return a;
  }
  static T add(T a, T b) {
    for (int l = 0; l < W; l++) a.v[l] += b.v[l];
    return a;
  }
  static void store(float *p, T x) {
    for (int l = 0; l < W; l++) p[l] = x.v[l];
  }
  static float hsum(T x) {
    return ((x.v[0] + x.v[4]) + (x.v[1] + x.v[5])) + ((x.v[2] + x.v[6]) + (x.v[3] + x.v[7]));
  }
};

#include "gemm_small_impl.h"

Vec::T Vec::load(const uint16_t *p) {
  T r;
  for (int l = 0; l < W; l++) r.v[l] = b_value(p[l]);
  return r;
}

void generic_small_m_bf16(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const float *x, int64_t ldx, const uint16_t *b, int64_t ldb, float beta,
                          const float *bias, float *c, int64_t ldc) {
  small_m_impl(trans_b, m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}

void generic_small_m(int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *x,
                     int64_t ldx, const float *b, int64_t ldb, float beta, const float *bias,
                     float *c, int64_t ldc) {
  small_m_impl(trans_b, m, n, k, alpha, x, ldx, b, ldb, beta, bias, c, ldc);
}

}  // namespace

extern const GemmKernel kGenericKernel = {"generic 4x8", kGenMR, kGenNR, 128, 256, 4096, generic_micro,
                                   generic_pack_a<float>, generic_pack_b<float>, generic_colsum,
                                   generic_small_m, generic_small_m_bf16, generic_pack_a<uint16_t>,
                                   generic_pack_b<uint16_t>, false};

}  // namespace gemm_detail
}  // namespace cpu
}  // namespace fl
