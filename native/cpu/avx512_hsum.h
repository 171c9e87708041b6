// The horizontal sum of a 16-float AVX-512 vector, in the one order every AVX-512 kernel that must
// agree bit for bit uses (gemm_avx512.cpp's small-M path, gemv_avx512.cpp, attention_cached_avx512.cpp).
// Include only from files compiled with AVX-512 flags, after x86_intrin.h (static: no ODR sharing
// with code compiled for another ISA).
#pragma once

static inline float fl_hsum512(__m512 x) {
  __m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, x, 0),
                           _mm512_maskz_extractf32x8_ps(0xFF, x, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
