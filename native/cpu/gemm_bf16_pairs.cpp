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
#include <cmath>
#include <cstdint>
#include <cstring>

#include "bf16.h"
#include "gemm_kernels.h"

namespace fl {
namespace cpu {
namespace gemm_detail {

// A's panels: op(A)(i, p) is a[i*lda + p] (trans == 0: a row holds k pairs side by side) or
// a[p*lda + i] (trans: the pair comes from two rows of a).
void pack_pairs_a(const uint16_t *a, int64_t lda, int trans, int64_t rows, int64_t kc, int mr,
                  float *dst_f) {
  uint16_t *dst = reinterpret_cast<uint16_t *>(dst_f);
  const int64_t kp = (kc + 1) / 2, panels = (rows + mr - 1) / mr;
  for (int64_t q = 0; q < panels; q++) {
    uint16_t *d = dst + q * mr * kc * 2;  // the driver's panel stride: mr * kc floats
    const int64_t r_end = rows - q * mr < mr ? rows - q * mr : mr;
    if (!trans) {
      for (int r = 0; r < mr; r++) {
        const uint16_t *s = a + (q * mr + r) * lda;
        for (int64_t pp = 0; pp < kp; pp++) {
          const int64_t p = 2 * pp;
          d[(pp * mr + r) * 2] = r < r_end ? s[p] : 0;
          d[(pp * mr + r) * 2 + 1] = r < r_end && p + 1 < kc ? s[p + 1] : 0;
        }
      }
    } else {
      for (int64_t pp = 0; pp < kp; pp++) {
        const int64_t p = 2 * pp;
        const uint16_t *s0 = a + p * lda + q * mr, *s1 = s0 + lda;
        const bool has1 = p + 1 < kc;
        for (int r = 0; r < mr; r++) {
          d[(pp * mr + r) * 2] = r < r_end ? s0[r] : 0;
          d[(pp * mr + r) * 2 + 1] = r < r_end && has1 ? s1[r] : 0;
        }
      }
    }
  }
}

// B's panels: op(B)(p, j) is b[j*ldb + p] (trans: a row of b holds a column's k pairs side by side)
// or b[p*ldb + j] (trans == 0: the pair comes from two rows of b).
void pack_pairs_b(const uint16_t *b, int64_t ldb, int trans, int64_t cols, int64_t kc, int nr,
                  float *dst_f) {
  uint16_t *dst = reinterpret_cast<uint16_t *>(dst_f);
  const int64_t kp = (kc + 1) / 2, panels = (cols + nr - 1) / nr;
  for (int64_t q = 0; q < panels; q++) {
    uint16_t *d = dst + q * nr * kc * 2;
    const int64_t c_end = cols - q * nr < nr ? cols - q * nr : nr;
    if (trans) {
      for (int c = 0; c < nr; c++) {
        const uint16_t *s = b + (q * nr + c) * ldb;
        for (int64_t pp = 0; pp < kp; pp++) {
          const int64_t p = 2 * pp;
          d[(pp * nr + c) * 2] = c < c_end ? s[p] : 0;
          d[(pp * nr + c) * 2 + 1] = c < c_end && p + 1 < kc ? s[p + 1] : 0;
        }
      }
    } else {
      for (int64_t pp = 0; pp < kp; pp++) {
        const int64_t p = 2 * pp;
        const uint16_t *s0 = b + p * ldb + q * nr, *s1 = s0 + ldb;
        const bool has1 = p + 1 < kc;
        for (int c = 0; c < nr; c++) {
          d[(pp * nr + c) * 2] = c < c_end ? s0[c] : 0;
          d[(pp * nr + c) * 2 + 1] = c < c_end && has1 ? s1[c] : 0;
        }
      }
    }
  }
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
    240,
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
