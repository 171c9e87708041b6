// AVX-512 (F) build of the attention kernels (attention_kernel.h): the same code as the AVX2 file
// with 16-lane vectors; only called after attention.cpp has checked ctx.isa >= FL_ISA_AVX512.
// GCC 12's avx512fintrin.h seeds masked intrinsics with _mm512_undefined_ps(), which trips a
// false -Wmaybe-uninitialized (GCC PR 105593) once they are inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "x86_intrin.h"
#include <math.h>

#include "attention_impl.h"

namespace fl {
namespace cpu {
namespace attn_avx512 {
namespace {

constexpr int W = 16;
typedef __m512 V;

inline V vload(const float *p) { return _mm512_loadu_ps(p); }
inline void vstore(float *p, V v) { _mm512_storeu_ps(p, v); }
inline V vset1(float x) { return _mm512_set1_ps(x); }
inline V vzero() { return _mm512_setzero_ps(); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V vmax(V a, V b) { return _mm512_max_ps(a, b); }
inline float vhsum(V v) { return _mm512_reduce_add_ps(v); }
inline float vhmax(V v) { return _mm512_reduce_max_ps(v); }
// exp(x): the same Cephes expf as the AVX2 file (see there); exactly 0 below -87.34 and for -inf.
inline V vexp(V x) {
  const V lo = _mm512_set1_ps(-87.3365447504f);
  const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), lo);
  const V n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  V r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  V p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), _mm512_mul_ps(p, _mm512_castsi512_ps(e)));
}

}  // namespace

#include "attention_kernel.h"

}  // namespace attn_avx512
}  // namespace cpu
}  // namespace fl
