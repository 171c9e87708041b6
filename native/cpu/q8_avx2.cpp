// The int8-weight GEMV kernel for AVX2 (layouts and arithmetic in q8.h), for CPUs without AVX-512
// VNNI: each 64-byte run is two 256-bit halves (columns 0-7 and 8-15); the stored q + 128 is turned
// back into q, and vpmaddubsw multiplies |xq| (unsigned) by q with xq's sign (|products| <= 127 *
// 127, so the pair sums cannot saturate), vpmaddwd sums the pairs to int32: the exact dot(q, xq).
#include "q8.h"
#include "x86_intrin.h"

namespace fl {
namespace q8 {
namespace {

inline int32_t load4(const int8_t *p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <int R>
void run(const Activations &a, int64_t k, int64_t n, const uint8_t *packed, int64_t g0, int64_t g1,
         const float *bias, float *y, int64_t ldy) {
  const int64_t nb = k / kBlock;
  const __m256i flip = _mm256_set1_epi8(char(0x80)), ones = _mm256_set1_epi16(1);
  for (int64_t g = g0; g < g1; g++) {
    const uint8_t *chunk = packed + g * nb * kChunkBytes;
    __m256 acc[R][2];
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, chunk += kChunkBytes) {
      __m256i s[R][2];
      for (int r = 0; r < R; r++) s[r][0] = s[r][1] = _mm256_setzero_si256();
      for (int q = 0; q < 8; q++) {
        const uint8_t *run = chunk + 32 + q * 64;
        const __m256i w0 = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(run)), flip);
        const __m256i w1 = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(run + 32)), flip);
        for (int r = 0; r < R; r++) {
          const __m256i x = _mm256_set1_epi32(load4(a.xq[r] + b * kBlock + 4 * q));
          const __m256i ax = _mm256_abs_epi8(x);
          s[r][0] = _mm256_add_epi32(s[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, x)), ones));
          s[r][1] = _mm256_add_epi32(s[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, x)), ones));
        }
      }
      const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(chunk)));
      const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(chunk + 16)));
      for (int r = 0; r < R; r++) {
        const __m256 vdx = _mm256_set1_ps(a.dx[r][b]);
        acc[r][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r][0]), _mm256_mul_ps(d0, vdx), acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r][1]), _mm256_mul_ps(d1, vdx), acc[r][1]);
      }
    }
    alignas(32) float out[kGroup];
    for (int r = 0; r < R; r++) {
      _mm256_store_ps(out, acc[r][0]);
      _mm256_store_ps(out + 8, acc[r][1]);
      store_group(out, g, n, bias, y + r * ldy);
    }
  }
}

}  // namespace

void kernel_avx2(int rows, const Activations &a, int64_t k, int64_t n, const uint8_t *packed,
                 int64_t g0, int64_t g1, const float *bias, float *y, int64_t ldy) {
  switch (rows) {
    case 1: run<1>(a, k, n, packed, g0, g1, bias, y, ldy); break;
    case 2: run<2>(a, k, n, packed, g0, g1, bias, y, ldy); break;
    case 3: run<3>(a, k, n, packed, g0, g1, bias, y, ldy); break;
    default: run<4>(a, k, n, packed, g0, g1, bias, y, ldy); break;
  }
}

}  // namespace q8
}  // namespace fl
