// Emulation build only (FL_SIMDE_AVX512, included by x86_intrin.h after <simde/x86/avx512.h>): the
// AVX-512 intrinsics the kernels use that SIMDe 0.7.4 (Debian libsimde-dev) lacks or gets wrong,
// written on SIMDe's portable types. Without these, the missing ones would resolve to GCC's native
// always_inline builtins and fail to compile without -mavx512f.
#pragma once

#include <stdint.h>

// missing in SIMDe 0.7.4: the zero-masked widening (and the unmasked 512-bit one) and shift
static inline simde__m512i fl_simde_maskz_cvtepu16_epi32(simde__mmask16 k, simde__m256i a) {
  uint16_t h[16];
  uint32_t w[16];
  simde_mm256_storeu_si256(reinterpret_cast<simde__m256i *>(h), a);
  for (int i = 0; i < 16; i++) w[i] = h[i];
  return simde_mm512_maskz_mov_epi32(k, simde_mm512_loadu_si512(w));
}
static inline simde__m512i fl_simde_maskz_slli_epi32(simde__mmask16 k, simde__m512i a, unsigned imm) {
  return simde_mm512_maskz_mov_epi32(k, simde_mm512_slli_epi32(a, imm));
}
#undef _mm512_maskz_cvtepu16_epi32
#define _mm512_maskz_cvtepu16_epi32(k, a) fl_simde_maskz_cvtepu16_epi32((k), (a))
#undef _mm512_maskz_slli_epi32
#define _mm512_maskz_slli_epi32(k, a, imm) fl_simde_maskz_slli_epi32((k), (a), (imm))

// missing in SIMDe 0.7.4: the horizontal reductions, in GCC's order (avx512fintrin.h
// __MM512_REDUCE_OP: high 256 op low 256, high 128 op low 128, lanes {2,3} op {0,1}, [0] op [1]);
// max as MAXPS: a > b ? a : b (the second operand when either is NaN)
static inline float fl_simde_maxps1(float a, float b) { return a > b ? a : b; }
#define FL_SIMDE_REDUCE(name, OP)                                        \
  static inline float name(simde__m512 v) {                              \
    float x[16];                                                         \
    simde_mm512_storeu_ps(x, v);                                         \
    for (int i = 0; i < 8; i++) x[i] = OP(x[i + 8], x[i]);               \
    for (int i = 0; i < 4; i++) x[i] = OP(x[i + 4], x[i]);               \
    const float t0 = OP(x[0], x[2]), t1 = OP(x[1], x[3]);                \
    return OP(t0, t1);                                                   \
  }
#define FL_SIMDE_ADD(a, b) ((a) + (b))
FL_SIMDE_REDUCE(fl_simde_reduce_add_ps, FL_SIMDE_ADD)
FL_SIMDE_REDUCE(fl_simde_reduce_max_ps, fl_simde_maxps1)
#undef _mm512_reduce_add_ps
#define _mm512_reduce_add_ps(v) fl_simde_reduce_add_ps(v)
#undef _mm512_reduce_max_ps
#define _mm512_reduce_max_ps(v) fl_simde_reduce_max_ps(v)

// WRONG in SIMDe 0.7.4 for vdpbf16ps's semantics: SIMDe adds the even product first and keeps
// denormals. The Intel SDM (VDPBF16PS) adds the odd product first, each step one float32 rounding
// (RNE), denormal inputs read as zero and denormal results flushed (DAZ/FTZ) whatever MXCSR says;
// this is that, lane by lane (a bf16 x bf16 product is exact in float32 above the normal range).
static inline float fl_simde_flush(float x) { return __builtin_fabsf(x) < 1.17549435e-38f ? x * 0.f : x; }
static inline float fl_simde_bf16(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &w, sizeof f);
  return fl_simde_flush(f);
}
static inline simde__m512 fl_simde_dpbf16_ps(simde__m512 src, simde__m512bh a, simde__m512bh b) {
  float acc[16];
  uint16_t av[32], bv[32];
  simde_mm512_storeu_ps(acc, src);
  __builtin_memcpy(av, &a, sizeof av);
  __builtin_memcpy(bv, &b, sizeof bv);
  for (int i = 0; i < 16; i++) {
    float x = fl_simde_flush(acc[i] + fl_simde_bf16(av[2 * i + 1]) * fl_simde_bf16(bv[2 * i + 1]));
    acc[i] = fl_simde_flush(x + fl_simde_bf16(av[2 * i]) * fl_simde_bf16(bv[2 * i]));
  }
  return simde_mm512_loadu_ps(acc);
}
#undef _mm512_dpbf16_ps
#define _mm512_dpbf16_ps(src, a, b) fl_simde_dpbf16_ps((src), (a), (b))

// missing in SIMDe 0.7.4: float -> int32 in the current rounding mode (round-to-nearest-even by
// default, as CVTPS2DQ), 0x80000000 for NaN and out-of-range values as the hardware gives
static inline simde__m512i fl_simde_cvtps_epi32(simde__m512 v) {
  float x[16];
  int32_t r[16];
  simde_mm512_storeu_ps(x, v);
  for (int i = 0; i < 16; i++) {
    const float n = __builtin_nearbyintf(x[i]);
    r[i] = (n >= -2147483648.f && n < 2147483648.f) ? static_cast<int32_t>(n) : INT32_MIN;
  }
  return simde_mm512_loadu_si512(r);
}
#undef _mm512_cvtps_epi32
#define _mm512_cvtps_epi32(v) fl_simde_cvtps_epi32(v)

// missing in SIMDe 0.7.4: one zero-masked 256-bit half
static inline simde__m256 fl_simde_maskz_extractf32x8_ps(simde__mmask8 k, simde__m512 v, int half) {
  float x[16], r[8];
  simde_mm512_storeu_ps(x, v);
  for (int i = 0; i < 8; i++) r[i] = ((k >> i) & 1) ? x[8 * (half & 1) + i] : 0.f;
  return simde_mm256_loadu_ps(r);
}
#undef _mm512_maskz_extractf32x8_ps
#define _mm512_maskz_extractf32x8_ps(k, v, half) fl_simde_maskz_extractf32x8_ps((k), (v), (half))
