// fl_gemm_bf16's micro-kernel for AVX512_BF16: a 12 x 32 register tile (24 zmm accumulators, 2 B
// vectors, 1 broadcast A pair) over the k-pair panels of gemm_kernels.h, one vdpbf16ps per
// accumulator and k pair (two products of bf16 values summed into float32; its exact semantics and
// the portable emulation are in gemm_bf16_pairs.cpp, which also packs the panels). Compiled with
// -mavx512bf16 on top of the AVX-512 flags (cmake/FuselmCompilerFlags.cmake); called only after the
// driver (gemm.cpp) has checked ctx.isa >= FL_ISA_AVX512_BF16.
//
// Written without a CPU to run it on (the development machine has AVX2 only): the tests run it
// wherever fl_cpu_best_isa reports FL_ISA_AVX512_BF16 and skip it, saying so, elsewhere. Everything
// but the loop below (packing, blocking, edge tiles, write-back) is shared with the emulation and
// tested on any machine (FUSELM_GEMM_BF16_PAIRS=1).
#include "x86_intrin.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gemm_kernels.h"

namespace fl {
namespace cpu {
namespace avx512bf16_gemm {
namespace {

constexpr int kMR = 12;
constexpr int kNV = 2;           // zmm vectors of 16 float32 columns
constexpr int kNR = kNV * 16;

inline __m512bh bcast_pair(const uint16_t *p) {
  int32_t w;
  std::memcpy(&w, p, sizeof w);
  return fl_as_m512bh(_mm512_set1_epi32(w));
}

void micro(int64_t kc, const float *a_f, const float *b_f, float *c, int64_t ldc, float alpha,
           float beta, const float *bias) {
  const uint16_t *a = reinterpret_cast<const uint16_t *>(a_f);
  const uint16_t *b = reinterpret_cast<const uint16_t *>(b_f);
  __m512 acc[kMR][kNV];
#pragma GCC unroll 12
  for (int r = 0; r < kMR; r++) {
    _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char *>(c + r * ldc + kNR - 1), _MM_HINT_T0);
    acc[r][0] = _mm512_setzero_ps();
    acc[r][1] = _mm512_setzero_ps();
  }
  const int64_t kp = (kc + 1) / 2;
  for (int64_t pp = 0; pp < kp; pp++) {
    // 16 columns x (k even, k odd) per vector
    const __m512bh b0 = fl_as_m512bh(_mm512_loadu_si512(b));
    const __m512bh b1 = fl_as_m512bh(_mm512_loadu_si512(b + 32));
#pragma GCC unroll 12
    for (int r = 0; r < kMR; r++) {
      const __m512bh ar = bcast_pair(a + 2 * r);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
    }
    a += 2 * kMR;
    b += 2 * kNR;
  }
  // write-back as the fp32 kernels (gemm_x86_impl.h): scale, beta * C (C not read when beta == 0),
  // bias
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  __m512 bias_v[kNV];
  for (int v = 0; v < kNV; v++) bias_v[v] = bias ? _mm512_loadu_ps(bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int r = 0; r < kMR; r++) {
    float *cr = c + r * ldc;
    for (int v = 0; v < kNV; v++) {
      __m512 x = alpha == 1.f ? acc[r][v] : _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.f) x = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16 * v), x);
      if (bias) x = _mm512_add_ps(x, bias_v[v]);
      _mm512_storeu_ps(cr + 16 * v, x);
    }
  }
}

}  // namespace

namespace {

// 16 floats rounded to bf16 exactly as f32_to_bf16_rne (bf16.h) does, in integer arithmetic (not
// vcvtneps2bf16, which flushes subnormal inputs to zero): + 0x7fff + the kept half's lowest bit,
// keep the high half; a NaN keeps its high half with the quiet bit set. The result is in the low 16
// bits of each 32-bit lane. (Only intrinsics the SIMDe build emulates.)
inline __m512i round16(__m512i u) {
  const __m512i high = _mm512_srli_epi32(u, 16);
  const __m512i r = _mm512_srli_epi32(
      _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                           _mm512_and_si512(high, _mm512_set1_epi32(1)))),
      16);
  // |x| above infinity's bits: a NaN (both sides non-negative as int32, so a signed compare)
  const __mmask16 nan = _mm512_cmpgt_epi32_mask(
      _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(high, _mm512_set1_epi32(0x40)));
}

// s[0, n) (n <= 16, the other lanes 0) as 32-bit lanes.
inline __m512i load16(const float *s, int64_t n) {
  if (n >= 16) return _mm512_loadu_si512(s);
  alignas(64) float t[16] = {};
  if (n > 0) std::memcpy(t, s, size_t(n) * sizeof(float));
  return _mm512_load_si512(t);
}

void round_run(const float *s, uint16_t *d, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    alignas(64) uint32_t t[16];
    _mm512_store_si512(t, round16(load16(s + i, n - i)));
    const int64_t m = n - i < 16 ? n - i : 16;
    for (int64_t l = 0; l < m; l++) d[i + l] = uint16_t(t[l]);  // the low halves (vpmovdw)
  }
}

// k-major: a pair's two values sit in two source rows (k even, k odd) at the same x, so a pair
// word is round(row 2pp) | round(row 2pp + 1) << 16, 16 x at a time, stored in place; lanes past
// count read as 0 and so write the zero padding, and an odd kc's last pair takes 0 as its odd half.
// Pair rows outermost: each step reads two runs of `count` contiguous values across all panels.
void kmajor_panels(const float *s, int64_t ld, int64_t count, int64_t kc, int w, uint16_t *d) {
  const int64_t kp = (kc + 1) / 2, panels = (count + w - 1) / w;
  for (int64_t pp = 0; pp < kp; pp++) {
    const float *s0 = s + 2 * pp * ld, *s1 = s0 + ld;
    const bool odd = 2 * pp + 1 < kc;
    for (int64_t q = 0; q < panels; q++) {
      uint16_t *dp = d + (q * w * kc + pp * w) * 2;
      const int64_t n = std::min<int64_t>(w, count - q * w);
      for (int x = 0; x < w; x += 16) {
        const __m512i lo = round16(load16(s0 + q * w + x, n - x));
        const __m512i hi = odd ? round16(load16(s1 + q * w + x, n - x)) : _mm512_setzero_si512();
        const __m512i words = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
        if (w - x >= 16) {
          _mm512_storeu_si512(dp + 2 * x, words);
        } else {
          alignas(64) uint32_t t[16];
          _mm512_store_si512(t, words);
          std::memcpy(dp + 2 * x, t, size_t(w - x) * sizeof(uint32_t));
        }
      }
    }
  }
}

}  // namespace

extern const gemm_detail::F32PairPacking kF32PairPacking = {round_run, kmajor_panels};

// Blocking in elements of k (a packed value is 2 bytes): a B micro-panel is 32 x 384 bf16 = 24 KiB
// (L1d is 32-48 KiB on AVX512_BF16 parts), the packed A block 240 x 384 bf16 = 180 KiB (L2 1-2 MiB),
// the B block 384 x 4096 bf16 = 3 MiB. Only the packed GEMM uses this table (see gemm_kernels.h).
extern const gemm_detail::GemmKernel kKernel = {"avx512_bf16 12x32 k-pairs",
                                                kMR,
                                                kNR,
                                                264,
                                                384,
                                                4096,
                                                micro,
                                                nullptr,
                                                nullptr,
                                                nullptr,
                                                nullptr,
                                                nullptr,
                                                nullptr,
                                                nullptr,
                                                true};

}  // namespace avx512bf16_gemm
}  // namespace cpu
}  // namespace fl
