// The int8-weight GEMV kernel for AVX-512 with VNNI (layouts and arithmetic in q8.h): per group of
// 16 columns and block of 32, eight vpdpbusd of one 64-byte run each against the row's 4 int8
// activations broadcast, minus 128 * sum(xq), converted and fused-multiply-added with the 16 fp16
// scales times the row's scale. Up to 4 rows share each weight load. Only called after a run-time
// check for avx512vnni (cpu/q8.cpp); in the SIMDe build vpdpbusd and the rest are emulated.
#include "q8.h"
#include "x86_intrin.h"

#if defined(FL_SIMDE_AVX512)
#define FL_VNNI_TARGET
#else
#define FL_VNNI_TARGET __attribute__((target("avx512vnni")))
#endif

namespace fl {
namespace q8 {
namespace {

inline int32_t load4(const int8_t *p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline __m512 load_scales(const uint8_t *chunk) {
#if defined(FL_SIMDE_AVX512)
  alignas(64) float d[kGroup];
  for (int c = 0; c < kGroup; c++) d[c] = half_to_float(uint16_t(chunk[2 * c] | chunk[2 * c + 1] << 8));
  return _mm512_load_ps(d);
#else
  // the maskz form with a full mask: GCC 12 warns about the undefined source of the unmasked one
  return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(chunk)));
#endif
}

// int32 -> float32, round to nearest (vcvtdq2ps; SIMDe 0.7.4 has no _mm512_cvtepi32_ps)
inline __m512 to_float(__m512i v) {
#if defined(FL_SIMDE_AVX512)
  alignas(64) int32_t i[kGroup];
  alignas(64) float f[kGroup];
  _mm512_store_si512(i, v);
  for (int c = 0; c < kGroup; c++) f[c] = float(i[c]);
  return _mm512_load_ps(f);
#else
  return _mm512_maskz_cvtepi32_ps(0xFFFF, v);  // maskz: as load_scales
#endif
}

template <int R>
FL_VNNI_TARGET void run(const Activations &a, int64_t k, int64_t n, const uint8_t *packed,
                        int64_t g0, int64_t g1, const float *bias, float *y, int64_t ldy) {
  const int64_t nb = k / kBlock;
  for (int64_t g = g0; g < g1; g++) {
    const uint8_t *chunk = packed + g * nb * kChunkBytes;
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, chunk += kChunkBytes) {
      // two chains per row (even and odd runs): half the vpdpbusd latency in the block's sum
      __m512i s0[R], s1[R];
      for (int r = 0; r < R; r++) s0[r] = s1[r] = _mm512_setzero_si512();
      for (int q = 0; q < 8; q += 2) {
        const __m512i w0 = _mm512_loadu_si512(chunk + 32 + q * 64);
        const __m512i w1 = _mm512_loadu_si512(chunk + 32 + (q + 1) * 64);
        for (int r = 0; r < R; r++) {
          const int8_t *xq = a.xq[r] + b * kBlock + 4 * q;
          s0[r] = _mm512_dpbusd_epi32(s0[r], w0, _mm512_set1_epi32(load4(xq)));
          s1[r] = _mm512_dpbusd_epi32(s1[r], w1, _mm512_set1_epi32(load4(xq + 4)));
        }
      }
      const __m512 d = load_scales(chunk);
      for (int r = 0; r < R; r++) {
        const __m512i dot = _mm512_sub_epi32(_mm512_add_epi32(s0[r], s1[r]),
                                             _mm512_set1_epi32(128 * a.sx[r][b]));
        acc[r] = _mm512_fmadd_ps(to_float(dot), _mm512_mul_ps(d, _mm512_set1_ps(a.dx[r][b])),
                                 acc[r]);
      }
    }
    alignas(64) float out[kGroup];
    for (int r = 0; r < R; r++) {
      _mm512_store_ps(out, acc[r]);
      store_group(out, g, n, bias, y + r * ldy);
    }
  }
}

}  // namespace

void kernel_avx512_vnni(int rows, const Activations &a, int64_t k, int64_t n,
                        const uint8_t *packed, int64_t g0, int64_t g1, const float *bias, float *y,
                        int64_t ldy) {
  switch (rows) {
    case 1: run<1>(a, k, n, packed, g0, g1, bias, y, ldy); break;
    case 2: run<2>(a, k, n, packed, g0, g1, bias, y, ldy); break;
    case 3: run<3>(a, k, n, packed, g0, g1, bias, y, ldy); break;
    default: run<4>(a, k, n, packed, g0, g1, bias, y, ldy); break;
  }
}

}  // namespace q8
}  // namespace fl
