// Vectorisable scalar math for the CPU kernels: exp, tanh, max and lane-split reductions.
//
// Included INSIDE each ISA namespace of a kernel TU (generic, avx2, avx512), after <cstdint>, so every
// instruction-set build gets its own internal-linkage copy (no inline symbol shared across TUs, which
// the linker could otherwise resolve to the AVX2 build for a generic caller). No include guard on
// purpose: one inclusion per namespace. Only builtins are used here, never std:: inline functions.
//
// The loops that call these are plain `for` loops that GCC/Clang auto-vectorise for the ISA of the
// including TU. The kernel headers wrap their bodies in
//   #pragma GCC optimize("no-trapping-math", "no-math-errno", "fp-contract=off")
// no-trapping-math lets GCC if-convert the branch-free selects (a < b ? a : b) below (we never read
// FP exception flags, so results are unchanged); no-math-errno is for completeness (GCC still keeps
// sqrtf's errno path, hence fl_sqrt16); fp-contract=off stops GCC fusing a*b+c into FMA in the AVX2
// and AVX-512 builds, so every ISA computes the same IEEE operations in the same order: the CPU
// backend gives bitwise the same results at every ISA level, and elementwise ops (AdamW, add, scale)
// bitwise the same as the reference. Further:
//  * reductions written as kFlLanes independent accumulators (acc[j] += x[i + j]): each lane is a
//    separate sum, so vectorising them needs no reassociation (we build without -ffast-math) and the
//    result does not depend on the vector width: the same numbers on every ISA and thread count.

static constexpr int kFlLanes = 16;

static inline float fl_bits_to_float(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}
static inline uint32_t fl_float_to_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof u);
  return u;
}
static inline float fl_minf(float a, float b) { return a < b ? a : b; }
static inline float fl_maxf(float a, float b) { return a > b ? a : b; }
// max that lets a NaN through (so a NaN logit makes the loss NaN instead of vanishing)
static inline float fl_max_nan(float m, float x) { return (x > m || x != x) ? x : m; }

// exp(x) in float. Cephes-style: x = n ln2 + r with |r| <= ln2/2 (round-to-nearest via the
// 1.5 * 2^23 trick, no rounding instruction needed on SSE2), degree-6 polynomial for exp(r), scale by
// 2^n built in the exponent bits. Measured max relative error 8.3e-8 (about 1 ulp) against double
// exp on [-87.3, 88.3]. x < -87.3 returns 0 (exp underflows to the denormal range there), x > 88.3
// returns exp(88.3) (never reached by the max-shifted softmax), NaN returns NaN.
static inline float fl_expf(float x0) {
  const float x = fl_minf(fl_maxf(x0, -87.3f), 88.3f);
  const float t = x * 1.44269504088896341f + 12582912.0f;  // 12582912 = 1.5 * 2^23
  const float n = t - 12582912.0f;                          // round(x / ln2), exactly
  const int32_t ni = static_cast<int32_t>(fl_float_to_bits(t) - 0x4B400000u);
  float r = x - n * 0.693359375f;  // Cody-Waite split of ln2: hi part exact in float
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  y = y * fl_bits_to_float(static_cast<uint32_t>(ni + 127) << 23);
  y = x0 == x0 ? y : x0;
  return x0 < -87.3f ? 0.0f : y;
}

// tanh(u) and its derivative 1 - tanh(u)^2 = sech(u)^2 from one exp: with e = exp(-2|u|),
// tanh = sign(u) (1 - e) / (1 + e) and sech^2 = 4 e / (1 + e)^2, the latter free of the
// 1 - tanh^2 cancellation at large |u|. Absolute error about 1e-7 on both (relative error of tanh
// grows near u = 0, where GELU adds it to 1). Measured on GELU over [-12, 12] against double:
// forward |error| <= 1.4e-7 |x|, derivative |error| <= 1.9e-7.
static inline void fl_tanh_sech2(float u, float *th, float *sech2) {
  const float e = fl_expf(-2.0f * __builtin_fabsf(u));
  const float inv = 1.0f / (1.0f + e);
  *th = __builtin_copysignf((1.0f - e) * inv, u);
  *sech2 = 4.0f * e * inv * inv;
}

// Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF, for the exact GELU. With z = x/sqrt 2:
//  * |z| < 1: erf(z) = z P(z^2), P of degree 6;
//  * |z| >= 1: erfc(|z|) = exp(-z^2) R(1/|z|), R of degree 10 fitted on 1/|z| in [1/8, 1] (beyond
//    |z| = 8, exp(-z^2) < 2e-28, so R is clamped there), and Phi = erfc(|z|)/2 for z < 0 and
//    1 - erfc(|z|)/2 for z > 0: no cancellation in the left tail, where 1 + erf(z) would lose it.
// Both polynomials are least-squares fits to double erf/erfc reweighted toward minimax relative error
// (1.2e-9 and 8.2e-9 in double). Measured in float against double erfc over x in [-12, 12]
// (2e6 points): |error| <= 1.1e-7 absolute; relative error <= 5e-6 down to Phi = 1e-15 (the rounding
// of z^2 inside exp dominates there). Branch-free (both halves computed, then selected), so loops
// calling it vectorise.
static inline float fl_normal_cdf(float x) {
  const float z = x * 0.70710678118654752f;
  const float az = __builtin_fabsf(z);
  const float t = z * z;
  float p = 7.8538503391e-05f;
  p = p * t + -8.0101902903e-04f;
  p = p * t + 5.1883273062e-03f;
  p = p * t + -2.6853811736e-02f;
  p = p * t + 1.1283585144e-01f;
  p = p * t + -3.7612625824e-01f;
  p = p * t + 1.1283791657e+00f;
  const float near = 0.5f + 0.5f * (z * p);
  const float s = fl_maxf(1.0f / fl_maxf(az, 1.0f), 0.125f);
  float r = -5.1928977539e-02f;
  r = r * s + 3.4828562394e-01f;
  r = r * s + -1.0349836107e+00f;
  r = r * s + 1.7722969125e+00f;
  r = r * s + -1.8698839341e+00f;
  r = r * s + 1.1286651255e+00f;
  r = r * s + -1.7178328529e-01f;
  r = r * s + -2.5465788369e-01f;
  r = r * s + -2.7720903755e-03f;
  r = r * s + 5.6434970385e-01f;
  r = r * s + -4.0113767569e-06f;
  const float half_erfc = 0.5f * fl_expf(-t) * r;
  const float far = z > 0.0f ? 1.0f - half_erfc : half_erfc;
  return az < 1.0f ? near : far;
}

// ---- lane-split reductions (results independent of vector width, see above) ----------------

// sum of x[0..n) in double
static inline double fl_sum_d(const float *x, int64_t n) {
  double acc[kFlLanes] = {};
  int64_t i = 0;
  for (; i + kFlLanes <= n; i += kFlLanes)
    for (int j = 0; j < kFlLanes; j++) acc[j] += static_cast<double>(x[i + j]);
  double s = 0.0;
  for (; i < n; i++) s += static_cast<double>(x[i]);
  for (int j = 0; j < kFlLanes; j++) s += acc[j];
  return s;
}

// sum of (x[i] - m)^2 in double
static inline double fl_sumsq_dev_d(const float *x, double m, int64_t n) {
  double acc[kFlLanes] = {};
  int64_t i = 0;
  for (; i + kFlLanes <= n; i += kFlLanes)
    for (int j = 0; j < kFlLanes; j++) {
      const double d = static_cast<double>(x[i + j]) - m;
      acc[j] += d * d;
    }
  double s = 0.0;
  for (; i < n; i++) {
    const double d = static_cast<double>(x[i]) - m;
    s += d * d;
  }
  for (int j = 0; j < kFlLanes; j++) s += acc[j];
  return s;
}

// ---- by hand where the compiler does not vectorise -------------------------------------------
// The float max select and sqrtf (GCC keeps sqrtf's errno path, which no per-function option
// removes) are not auto-vectorised, so they use intrinsics. Which branch compiles follows the
// including TU's flags (FL_AVX512 in *_avx512.cpp, native or SIMDe: x86_intrin.h, __AVX__ in *_avx2.cpp, SSE2 on any x86-64);
// intrinsics are gnu_inline builtins, so no symbol is shared between TUs. <immintrin.h> is included
// by the *_kernels.h headers, outside every namespace.

// max of x[0..n): -inf for n == 0, NaN if any element is NaN (maxps alone would drop NaNs, so a
// separate unordered-compare flag is kept). Max is exact, so the result is the same on every ISA.
static inline float fl_max_row(const float *x, int64_t n) {
  float m = -__builtin_inff();
  int64_t i = 0;
  bool nan = false;
#if defined(FL_AVX512)
  // the unmasked _mm512_max_ps/_sqrt_ps use _mm512_undefined_ps(), which trips a GCC 12
  // -Wmaybe-uninitialized false positive; the all-lanes masked forms are the same instructions
  const __mmask16 kAll = 0xFFFF;
  __m512 a0 = _mm512_set1_ps(m), a1 = a0;
  __mmask16 bad = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
    a0 = _mm512_mask_max_ps(a0, kAll, a0, x0);
    a1 = _mm512_mask_max_ps(a1, kAll, a1, x1);
    bad = static_cast<__mmask16>(bad | _mm512_cmp_ps_mask(x0, x0, _CMP_UNORD_Q) |
                                 _mm512_cmp_ps_mask(x1, x1, _CMP_UNORD_Q));
  }
  float lanes[16];
  _mm512_storeu_ps(lanes, _mm512_mask_max_ps(a0, kAll, a0, a1));
  for (int j = 0; j < 16; j++) m = fl_maxf(m, lanes[j]);
  nan = bad != 0;
#elif defined(__AVX__)
  __m256 a0 = _mm256_set1_ps(m), a1 = a0, bad = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_max_ps(a0, x0);
    a1 = _mm256_max_ps(a1, x1);
    bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_cmp_ps(x0, x0, _CMP_UNORD_Q),
                                         _mm256_cmp_ps(x1, x1, _CMP_UNORD_Q)));
  }
  a0 = _mm256_max_ps(a0, a1);
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  m = _mm_cvtss_f32(h);
  nan = _mm256_movemask_ps(bad) != 0;
#elif defined(__SSE2__)
  __m128 a0 = _mm_set1_ps(m), a1 = a0, bad = _mm_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m128 x0 = _mm_loadu_ps(x + i), x1 = _mm_loadu_ps(x + i + 4);
    a0 = _mm_max_ps(a0, x0);
    a1 = _mm_max_ps(a1, x1);
    bad = _mm_or_ps(bad, _mm_or_ps(_mm_cmpunord_ps(x0, x0), _mm_cmpunord_ps(x1, x1)));
  }
  __m128 h = _mm_max_ps(a0, a1);
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  m = _mm_cvtss_f32(h);
  nan = _mm_movemask_ps(bad) != 0;
#endif
  for (; i < n; i++) m = fl_max_nan(m, x[i]);
  return nan ? __builtin_nanf("") : m;
}

// x[0..16) = sqrt(x[0..16)), correctly rounded (IEEE sqrt) on every path
static inline void fl_sqrt16(float *x) {
#if defined(FL_AVX512)
  const __m512 v = _mm512_loadu_ps(x);
  _mm512_storeu_ps(x, _mm512_mask_sqrt_ps(v, static_cast<__mmask16>(0xFFFF), v));
#elif defined(__AVX__)
  _mm256_storeu_ps(x, _mm256_sqrt_ps(_mm256_loadu_ps(x)));
  _mm256_storeu_ps(x + 8, _mm256_sqrt_ps(_mm256_loadu_ps(x + 8)));
#elif defined(__SSE2__)
  for (int j = 0; j < 16; j += 4) _mm_storeu_ps(x + j, _mm_sqrt_ps(_mm_loadu_ps(x + j)));
#else
  for (int j = 0; j < 16; j++) x[j] = __builtin_sqrtf(x[j]);
#endif
}

// sum of exp(x[i] - m), float lanes (each lane adds at most n / 16 terms in [0, 1])
static inline float fl_sum_exp_shifted(const float *x, float m, int64_t n) {
  float acc[kFlLanes] = {};
  int64_t i = 0;
  for (; i + kFlLanes <= n; i += kFlLanes)
    for (int j = 0; j < kFlLanes; j++) acc[j] += fl_expf(x[i + j] - m);
  float s = 0.0f;
  for (; i < n; i++) s += fl_expf(x[i] - m);
  for (int j = 0; j < kFlLanes; j++) s += acc[j];
  return s;
}

// sum of a * b * (x - m) in float lanes
static inline float fl_dot_shifted(const float *a, const float *b, const float *x, float m,
                                   int64_t n) {
  float acc[kFlLanes] = {};
  int64_t i = 0;
  for (; i + kFlLanes <= n; i += kFlLanes)
    for (int j = 0; j < kFlLanes; j++) acc[j] += a[i + j] * b[i + j] * (x[i + j] - m);
  float s = 0.0f;
  for (; i < n; i++) s += a[i] * b[i] * (x[i] - m);
  for (int j = 0; j < kFlLanes; j++) s += acc[j];
  return s;
}

// dot product of a and b in float lanes
static inline float fl_dot(const float *a, const float *b, int64_t n) {
  float acc[kFlLanes] = {};
  int64_t i = 0;
  for (; i + kFlLanes <= n; i += kFlLanes)
    for (int j = 0; j < kFlLanes; j++) acc[j] += a[i + j] * b[i + j];
  float s = 0.0f;
  for (; i < n; i++) s += a[i] * b[i];
  for (int j = 0; j < kFlLanes; j++) s += acc[j];
  return s;
}
